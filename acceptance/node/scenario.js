'use strict'
// Drives a cerberus server with the unmodified official Node client
// (cerberus-node-client 4.0.0) in token mode. Run by client_node_test.go:
//
//   CERB_URL=http://127.0.0.1:PORT CERB_TOKEN=<user token> CERB_SDB_PATH=app/sdb/ node scenario.js
//
// Prints one JSON line per step: {"step", "ok", "result"} or {"step", "ok": false, "error"}.
// Every step runs even when an earlier one failed; the Go test asserts each one.
const CerberusClient = require('cerberus-node-client')
const { step } = require('./steps')

const hostUrl = process.env.CERB_URL
const token = process.env.CERB_TOKEN
const sdbPath = process.env.CERB_SDB_PATH
if (!hostUrl || !token || !sdbPath) {
  console.error('scenario.js: CERB_URL, CERB_TOKEN and CERB_SDB_PATH must be set')
  process.exit(2)
}
const base = sdbPath.replace(/\/+$/, '')

async function main () {
  const client = new CerberusClient({ hostUrl, token })

  await step('write', () => client.writeSecureData(`${base}/db/config`, { user: 'node-app', password: 's3cr3t-✓' }))
  await step('write-keep', () => client.writeSecureData(`${base}/keep`, { k: 'v' }))
  await step('read', () => client.getSecureData(`${base}/db/config`))
  await step('overwrite', () => client.writeSecureData(`${base}/db/config`, { user: 'node-app', password: 'rotated' }))
  await step('read-overwritten', () => client.getSecureData(`${base}/db/config`))
  await step('list-root', () => client.listPathsForSecureData(`${base}/`))
  await step('list-sub', () => client.listPathsForSecureData(`${base}/db/`))
  await step('list-missing', () => client.listPathsForSecureData(`${base}/missing/`))
  await step('delete', () => client.deleteSecureData(`${base}/db/config`))
  await step('read-deleted', () => client.getSecureData(`${base}/db/config`))
  await step('list-after-delete', () => client.listPathsForSecureData(`${base}/`))
}

main().catch(e => {
  console.error(e)
  process.exit(1)
})
