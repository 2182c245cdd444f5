// Authentication is off only by an explicit dev flag, and the server then says so loudly.
import { expect, test } from 'bun:test'
import { mainTs } from '../support/surfaces'

const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NBS_AUTH' && k !== 'NBS_CLIENTS_FILE'))

test('serve without a clients file and without --insecure-no-auth refuses to start', () => {
  const r = Bun.spawnSync([process.execPath, mainTs, 'serve', '--listen', '127.0.0.1:0'], { env, timeout: 20_000 })
  expect(r.exitCode).toBe(2)
  expect(r.stderr.toString()).toContain('--insecure-no-auth')
})

test('with NBS_AUTH=off it serves, warning that every caller is anonymous', async () => {
  const child = Bun.spawn([process.execPath, mainTs, 'serve', '--listen', '127.0.0.1:0'], { env: { ...env, NBS_AUTH: 'off' }, stderr: 'pipe', stdout: 'pipe' })
  const reader = child.stderr.getReader()
  let err = ''
  const deadline = Date.now() + 20_000
  while (!err.includes('AUTHENTICATION IS OFF') && Date.now() < deadline) {
    const { value, done } = await reader.read()
    if (done) break
    err += new TextDecoder().decode(value)
  }
  child.kill('SIGTERM')
  await child.exited
  expect(err).toContain('AUTHENTICATION IS OFF')
}, 30_000)
