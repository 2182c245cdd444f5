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

describe('a body must say it is JSON', () => {
  const body = JSON.stringify(valid)
  test.each([
    ['POST', '/v1/jobs', undefined],
    ['POST', '/v1/jobs', 'application/x-www-form-urlencoded'],
    ['POST', '/v1/jobs', 'text/plain;charset=UTF-8'],
    // Elysia would parse it as text: told to spell it as it reads it, not refused for fields it never had.
    ['POST', '/v1/jobs', 'Application/JSON'],
    ['POST', '/v1/cleanup', undefined],
    ['POST', '/v1/jobs/20200101-000000-abcdef/run', 'text/plain'],
  ])('%s %s with content-type %s: 415 naming application/json', async (method, path, type) => {
    const res = await call(method, path, { body, headers: type ? { 'content-type': type } : {} })
    expect(res.status).toBe(415)
    expect(res.headers.get('content-type')).toStartWith('application/problem+json')
    const p = (await res.json()) as { type: string; status: number; detail: string; field: string }
    expect(p).toMatchObject({ type: expect.stringMatching(/\/unsupported_media_type$/), status: 415, field: 'content-type' })
    expect(p.detail).toContain('Content-Type: application/json')
  })

  test('application/json, with or without a charset, is read as JSON', async () => {
    for (const type of ['application/json', 'application/json; charset=utf-8']) {
      const res = await call('POST', '/v1/jobs', { body: JSON.stringify({ ...valid, bogus: 1 }), headers: { 'content-type': type } })
      expect(res.status).toBe(400)
      expect(((await res.json()) as { field: string }).field).toBe('bogus')
    }
  })

  test('requests without a body are not asked for a type', async () => {
    expect((await call('DELETE', '/v1/jobs/nope')).status).not.toBe(415)
    expect((await call('POST', '/v1/cleanup')).status).not.toBe(415)
  })

  test('an upload (POST /v1/sources) takes its tar or gzip body as before', async () => {
    for (const type of ['application/gzip', 'application/octet-stream', undefined]) {
      const res = await call('POST', '/v1/sources', { body: new Uint8Array([1, 2, 3]), headers: type ? { 'content-type': type } : {} })
      // Past the media-type check into the upload's own, which refuses these bytes before it spools any.
      expect(res.status).toBe(400)
      expect(((await res.json()) as { detail: string }).detail).toContain('not a tar or tar.gz archive')
    }
  })
})

describe('/docs', () => {
  test('/docs/ sends the browser to /docs, where the page and its relative bundle load', async () => {
    const res = await call('GET', '/docs/')
    expect(res.status).toBe(301)
    expect(res.headers.get('location')).toBe('/docs')
    const page = await call('GET', '/docs')
    expect(page.status).toBe(200)
    const script = (await page.text()).match(/src="([^"]+\.js)"/)?.[1] as string
    // Resolved as a browser would, against the page's own URL.
    const bundle = await call('GET', new URL(script, 'http://localhost/docs').pathname)
    expect(bundle.status).toBe(200)
    expect(bundle.headers.get('content-type')).toContain('javascript')
  })
})

describe('docs/reference.md', () => {
  test("the REST list names every /v1 operation of the OpenAPI document", async () => {
    const doc = (await (await call('GET', '/openapi.json')).json()) as { paths: Record<string, Record<string, unknown>> }
    const reference = await Bun.file(new URL('../../docs/reference.md', import.meta.url)).text()
    const list = reference.match(/^- \*\*REST\*\* under `\/v1`:[\s\S]*?(?=^- )/m)?.[0] ?? ''
    const ops = Object.entries(doc.paths)
      .filter(([path]) => path.startsWith('/v1/'))
      .flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`))
    expect(ops).toContain('GET /v1/info')
    expect(list).toContain('`POST /v1/jobs`')
    expect(ops.filter((op) => !list.includes(`\`${op}`))).toEqual([])
  })
})
