'use strict'
// Drives a cerberus server with the unmodified official Node client
// (cerberus-node-client 4.0.0) in STS mode: no token, so the client signs an
// STS GetCallerIdentity request with the AWS credentials of the default
// provider chain (the test passes them in AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN) and logs in on its first call.
// Run by client_node_sts_test.go:
//
//   CERB_URL=http://127.0.0.1:PORT CERB_SDB_PATH=app/granted/ CERB_OTHER_SECRET=app/other/config \
//   AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… AWS_SESSION_TOKEN=… node scenario_sts.js
//
// Prints one JSON line per step: {"step", "ok", "result"} or {"step", "ok": false, "error"}.
// Every step runs even when an earlier one failed; the Go test asserts each one.
const CerberusClient = require('cerberus-node-client')
const { step } = require('./steps')

const hostUrl = process.env.CERB_URL
const sdbPath = process.env.CERB_SDB_PATH
const otherSecret = process.env.CERB_OTHER_SECRET
if (!hostUrl || !sdbPath || !otherSecret) {
  console.error('scenario_sts.js: CERB_URL, CERB_SDB_PATH and CERB_OTHER_SECRET must be set')
  process.exit(2)
}
if (process.env.CERBERUS_TOKEN) {
  console.error('scenario_sts.js: CERBERUS_TOKEN is set, the client would skip STS')
  process.exit(2)
}
const base = sdbPath.replace(/\/+$/, '')

async function main () {
  // No token: STS mode. region is the option name of index.js / index.d.ts.
  const client = new CerberusClient({ hostUrl, region: 'us-west-2' })

  await step('write', () => client.writeSecureData(`${base}/node-sts/config`, { user: 'node-sts', password: 's3cr3t-✓' }))
  await step('read', () => client.getSecureData(`${base}/node-sts/config`))
  await step('list-root', () => client.listPathsForSecureData(`${base}/`))
  await step('list-sub', () => client.listPathsForSecureData(`${base}/node-sts/`))
  await step('read-other', () => client.getSecureData(otherSecret))
  await step('write-other', () => client.writeSecureData(otherSecret, { hacked: 'node' }))
  await step('delete', () => client.deleteSecureData(`${base}/node-sts/config`))
  await step('read-deleted', () => client.getSecureData(`${base}/node-sts/config`))
}

main().catch(e => {
  console.error(e)
  process.exit(1)
})
