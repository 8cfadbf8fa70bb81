'use strict'
// The step runner the scenarios share: each step prints one JSON line,
// {"step", "ok", "result"} or {"step", "ok": false, "error"}, and a failed
// step does not stop the ones after it.

function emit (line) {
  process.stdout.write(JSON.stringify(line) + '\n')
}

async function step (name, fn) {
  try {
    const result = await fn()
    emit({ step: name, ok: true, result: result === undefined ? null : result })
  } catch (e) {
    emit({ step: name, ok: false, error: String((e && e.message) || e) })
  }
}

module.exports = { emit, step }
