// REST in-process with no Nomad behind it: what a caller is told before anything reaches Nomad.
import { describe, expect, test } from 'bun:test'
import { loadConfig } from '../../src/config'
import { createApp } from '../../src/http/app'
import { limits } from '../../src/jobs/request'
import { NomadClient } from '../../src/nomad/client'
import { BuildService } from '../../src/service/build-service'
import type { ServerInfo } from '../../src/service/schemas'

// Nothing listens on port 9: a request that reached Nomad would fail as nomad_unavailable, not as the tests expect.
const service = new BuildService(new NomadClient({ address: 'http://127.0.0.1:9' }), loadConfig({}))
const app = createApp(service)
const call = (method: string, path: string, init: { body?: BodyInit; headers?: Record<string, string> } = {}) =>
  app.handle(new Request(`http://localhost${path}`, { method, ...init }))
const json = (body: unknown) => ({ body: JSON.stringify(body), headers: { 'content-type': 'application/json' } })

const valid = { repo: 'https://git.example.com/acme/app.git', image: 'registry.example.com/acme/app', test: { commands: ['true'] } }

describe('limits', () => {
  test('GET /v1/info tells the longest test command, the bound a request is refused by', async () => {
    const info = (await (await call('GET', '/v1/info')).json()) as ServerInfo
    expect(info.limits.commandChars).toBe(8192)
    const long = 'x'.repeat(info.limits.commandChars + 1)
    const res = await call('POST', '/v1/jobs', json({ ...valid, test: { commands: [long] } }))
    expect(res.status).toBe(400)
    const p = (await res.json()) as { detail: string; field: string }
    expect(p).toMatchObject({ field: 'test.commands[0]', detail: `test.commands[0]: at most ${limits.commandChars} characters (got 8193)` })
  })
})

describe('unknown fields', () => {
  test('a typo is refused with the field it most likely meant', async () => {
    const res = await call('POST', '/v1/jobs', json({ ...valid, test: { command: ['true'] } }))
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({ field: 'test.command', errors: [{ field: 'test.command', message: 'unknown field; did you mean `commands`?' }] })
  })
})
