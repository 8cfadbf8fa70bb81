'use strict'
// Drives a cerberus server with the unmodified official Node client
// (cerberus-node-client 4.0.0) in STS mode: no token, so the client signs an
// STS GetCallerIdentity request with the AWS credentials of the default
// provider chain (the test passes them in AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN) and logs in on its first call.
// CERB_FILE names a local file the scenario uploads as a secure file
// (writeFile streams it as a chunked multipart body), lists, reads back and
// deletes. Run by client_node_sts_test.go:
//
//   CERB_URL=http://127.0.0.1:PORT CERB_SDB_PATH=app/granted/ CERB_OTHER_SECRET=app/other/config \
//   CERB_FILE=/tmp/blob.bin AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… AWS_SESSION_TOKEN=… node scenario_sts.js
//
// Prints one JSON line per step: {"step", "ok", "result"} or {"step", "ok": false, "error"}.
// Every step runs even when an earlier one failed; the Go test asserts each one.
const crypto = require('crypto')
const fs = require('fs')
const CerberusClient = require('cerberus-node-client')
const { step } = require('./steps')

const hostUrl = process.env.CERB_URL
const sdbPath = process.env.CERB_SDB_PATH
const otherSecret = process.env.CERB_OTHER_SECRET
const localFile = process.env.CERB_FILE
if (!hostUrl || !sdbPath || !otherSecret || !localFile) {
  console.error('scenario_sts.js: CERB_URL, CERB_SDB_PATH, CERB_OTHER_SECRET and CERB_FILE must be set')
  process.exit(2)
}
if (process.env.CERBERUS_TOKEN) {
  console.error('scenario_sts.js: CERBERUS_TOKEN is set, the client would skip STS')
  process.exit(2)
}
const base = sdbPath.replace(/\/+$/, '')
const otherBase = otherSecret.split('/').slice(0, 2).join('/')
const payload = fs.readFileSync(localFile)

// describeBuffer reports what a file call resolved to without printing the
// bytes: whether it is a Buffer, its length and SHA-256, and whether it
// equals the uploaded payload.
function describeBuffer (b) {
  if (!Buffer.isBuffer(b)) {
    return { is_buffer: false, type: typeof b }
  }
  return {
    is_buffer: true,
    length: b.length,
    sha256: crypto.createHash('sha256').update(b).digest('hex'),
    equals_payload: b.equals(payload)
  }
}

// bodyLength reports the length of the raw body writeFile resolves to.
function bodyLength (b) {
  return { response_body_length: b == null ? null : b.length }
}

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

  // Secure files: the file name is the last path segment.
  const file = `${base}/node-files/blob.bin`
  await step('write-file', () => client.writeFile(file, payload).then(bodyLength))
  await step('list-files', () => client.listFile(`${base}/node-files/`))
  await step('read-file', () => client.readFile(file).then(describeBuffer))
  await step('write-file-other', () => client.writeFile(`${otherBase}/node-files/blob.bin`, payload).then(bodyLength))
  await step('delete-file', () => client.deleteFile(file))
  await step('read-file-deleted', () => client.readFile(file).then(describeBuffer))
  await step('list-files-deleted', () => client.listFile(`${base}/node-files/`))
}

main().catch(e => {
  console.error(e)
  process.exit(1)
})
