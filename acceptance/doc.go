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
// Both legs cover secure files; the Go leg also version history, the admin
// metadata and categories.
//
// The STS legs (client_go_sts_test.go, client_node_sts_test.go with
// node/scenario_sts.js) log the clients in with AWS credentials: the server
// runs with --sts-endpoint pointing at the fake STS of the parent module's
// stsauth/ststest, in the test process, which verifies the signatures the
// clients made. A recording reverse proxy between the clients and the server
// (sts_harness_test.go) keeps what each login was answered.
//
// This is a separate module so that the clients' dependencies (HashiCorp
// Vault's API package, the AWS SDK v1) never reach the server module; it
// requires the server module itself only through a replace directive, for
// the fake STS.
package acceptance
