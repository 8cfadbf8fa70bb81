// Package acceptance proves wire compatibility of the cerberus-go server with
// the unmodified official Cerberus clients.
//
// The package holds no production code. Its tests (go test ./... in this
// directory) build the server binary from the parent module with go build,
// start it as a subprocess on a free loopback port with a fresh data directory
// and local users, and then drive it with:
//
//   - the Go client github.com/Nike-Inc/cerberus-go-client/v3 at v3.0.11
//     (client_go_test.go), and
//   - the Node client cerberus-node-client 4.0.0 through node/scenario.js
//     (client_node_test.go); install it first with
//     npm ci --prefix acceptance/node.
//
// This is a separate module so that the clients' dependencies (HashiCorp
// Vault's API package, the AWS SDK) never reach the server module.
package acceptance
