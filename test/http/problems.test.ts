// REST validation and errors in-process: every refusal is a problem+json naming the field, and none reaches Nomad.
import { beforeAll, describe, expect, test } from 'bun:test'
import { createApp } from '../../src/http/app'
import { config, urls } from '../support/dev-stack'
import { ensureStack, newJobsFor, nomadJobIds, service } from '../support/surfaces'

const app = createApp(service)
const call = (method: string, path: string, body?: unknown) =>
  app.handle(
    new Request(`http://localhost${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    }),
  )

const valid = { repo: `${urls.git}/hello-world`, image: `${urls.registry}/test/problems`, test: { commands: ['true'] } }

async function problem(res: Response) {
  expect(res.headers.get('content-type')).toStartWith('application/problem+json')
  const p = (await res.json()) as { type: string; title: string; status: number; detail: string; field?: string; errors: { field: string; message: string }[] }
  expect(p.status).toBe(res.status)
  expect(p.title).toBeString()
  expect(p.detail).toBeString()
  return p
}

describe('REST problems', () => {
  let before: string[] = []
  beforeAll(async () => {
    await ensureStack()
    before = await nomadJobIds()
  }, 120_000)

  test('an unknown field in the body is refused by name, not dropped', async () => {
    const res = await call('POST', '/v1/jobs', { ...valid, dockerfil: 'Dockerfile' })
    expect(res.status).toBe(400)
    const p = await problem(res)
    expect(p.field).toBe('dockerfil')
    expect(p.errors).toContainEqual({ field: 'dockerfil', message: 'unknown field; did you mean `dockerfile`?' })
  })

  test('an unknown nested field is named with its path', async () => {
    const p = await problem(await call('POST', '/v1/jobs', { ...valid, test: { commands: ['true'], timeot: 5 } }))
    expect(p.status).toBe(400)
    expect(p.field).toBe('test.timeot')
  })

  test('a wrong type names the field and what it allows', async () => {
    const p = await problem(await call('POST', '/v1/jobs', { ...valid, tags: 'latest' }))
    expect(p.status).toBe(400)
    expect(p.field).toBe('tags')
    expect(p.detail).toContain('tags: expected array')
  })

  test('a missing required field is named', async () => {
    const { image: _, ...noImage } = valid
    const p = await problem(await call('POST', '/v1/jobs', noImage))
    expect(p.field).toBe('image')
    expect(p.errors[0]?.message).toBe('is required')
  })

  test('a rule beyond the schema (repo scheme) comes from the service as the same problem shape', async () => {
    const p = await problem(await call('POST', '/v1/jobs', { ...valid, repo: 'file:///etc' }))
    expect(p.status).toBe(400)
    expect(p.type).toEndWith('/invalid_request')
    expect(p.field).toBe('repo')
  })

  test('malformed JSON is a 400 problem', async () => {
    const res = await call('POST', '/v1/jobs', '{"repo": ')
    expect(res.status).toBe(400)
    const p = await problem(res)
    expect(p.detail).toContain('not valid JSON')
  })

  test('an unknown job id is a 404 problem naming id', async () => {
    const res = await call('GET', '/v1/jobs/20200101-000000-abcdef')
    expect(res.status).toBe(404)
    const p = await problem(res)
    expect(p.type).toEndWith('/not_found')
    expect(p.field).toBe('id')
    expect((await call('DELETE', '/v1/jobs/20200101-000000-abcdef')).status).toBe(404)
    expect((await call('GET', '/v1/jobs/20200101-000000-abcdef/logs')).status).toBe(404)
    expect((await call('GET', '/v1/jobs/20200101-000000-abcdef/logs?follow=true')).status).toBe(404)
  })

  test('a malformed job id in the path is a 400 naming params.id', async () => {
    const p = await problem(await call('GET', '/v1/jobs/not-an-id'))
    expect(p.status).toBe(400)
    expect(p.field).toBe('params.id')
  })

  test('query parameters: numbers coerced and checked, unknown ones refused', async () => {
    const ok = await call('GET', '/v1/jobs?limit=1')
    expect(ok.status).toBe(200)
    expect(((await ok.json()) as { jobs: unknown[] }).jobs.length).toBeLessThanOrEqual(1)
    const notNumber = await problem(await call('GET', '/v1/jobs?limit=many'))
    expect(notNumber.status).toBe(400)
    expect(notNumber.field).toBe('query.limit')
    const tooMany = await problem(await call('GET', '/v1/jobs?limit=100000'))
    expect(tooMany.field).toBe('query.limit')
    const fraction = await problem(await call('GET', '/v1/jobs/20200101-000000-abcdef/wait?timeoutSeconds=1.5'))
    expect(fraction.field).toBe('query.timeoutSeconds')
    const unknown = await problem(await call('GET', '/v1/jobs?state=FAILED'))
    expect(unknown.field).toBe('query.state')
    const phase = await problem(await call('GET', '/v1/jobs/20200101-000000-abcdef/logs?phase=deploy'))
    expect(phase.field).toBe('query.phase')
  })

  test('cleanup refuses unknown fields', async () => {
    const p = await problem(await call('POST', '/v1/cleanup', { olderThan: 5 }))
    expect(p.field).toBe('olderThan')
  })

  test('a Nomad job id (nbs-…) is taken wherever a job id is', async () => {
    for (const [method, path] of [['GET', ''], ['GET', '/logs'], ['GET', '/wait?timeoutSeconds=1'], ['DELETE', '']] as const) {
      const p = await problem(await call(method, `/v1/jobs/nbs-20200101-000000-abcdef${path}`))
      expect({ path, status: p.status, detail: p.detail }).toEqual({ path, status: 404, detail: 'id: no job 20200101-000000-abcdef' })
    }
    const cleanup = await problem(await call('POST', '/v1/cleanup', { id: 'nbs-20200101-000000-abcdef' }))
    expect(cleanup.detail).toBe('id: no job 20200101-000000-abcdef')
    const bad = await problem(await call('GET', '/v1/jobs/nbs-abc'))
    expect(bad.detail).toBe(
      'params.id: must be a job id as submitJob returned it, e.g. 20261125-123456-a1b2c3 (the Nomad job id nbs-20261125-123456-a1b2c3 works too)',
    )
  })

  test('enums in the query list their values', async () => {
    expect((await problem(await call('GET', '/v1/jobs?status=DONE'))).detail).toBe(
      'query.status: must be one of PENDING, BUILDING, TESTING, PUBLISHING, SUCCEEDED, FAILED (got "DONE")',
    )
    expect((await problem(await call('GET', '/v1/jobs/20200101-000000-abcdef/logs?phase=tests'))).detail).toBe(
      'query.phase: must be one of build, test, publish (got "tests")',
    )
    expect((await problem(await call('GET', '/v1/jobs/20200101-000000-abcdef/wait?until=finished'))).detail).toBe(
      'query.until: must be one of change, final (got "finished")',
    )
  })

  test('a bad grep is refused in words, before Nomad is asked', async () => {
    const p = await problem(await call('GET', '/v1/jobs/20200101-000000-abcdef/logs?grep=%2F(%2F'))
    expect(p.status).toBe(400)
    expect(p.field).toBe('grep')
    expect(p.detail).toStartWith('grep: /(/ is not a valid regular expression')
  })

  test('cleanup says which jobs: an empty request is refused naming id, olderThanSeconds and all', async () => {
    for (const body of [{}, undefined, { all: false }]) {
      const p = await problem(await call('POST', '/v1/cleanup', body))
      expect(p.status).toBe(400)
      expect(p.detail).toBe('cleanup needs id (one job), olderThanSeconds (the finished jobs older than that) or all: true (every finished job)')
    }
  })

  test('GET /v1/info: what this server accepts, from its configuration', async () => {
    const res = await call('GET', '/v1/info')
    expect(res.status).toBe(200)
    const info = (await res.json()) as { registries: { insecure: string[] }; secrets: { prefixes: string[] }; repo: { forms: string[] } }
    expect(info.registries.insecure).toEqual(config.insecureRegistries)
    expect(info.secrets.prefixes).toEqual(config.secretPrefixes)
    expect(info.repo.forms).toContain('git://host/path')
  })

  test('an unknown route is a 404 problem', async () => {
    const res = await call('GET', '/v2/jobs')
    expect(res.status).toBe(404)
    await problem(res)
  })

  test('health and readiness', async () => {
    const h = await call('GET', '/healthz')
    expect(h.status).toBe(200)
    expect(await h.json()).toEqual({ ok: true })
    const r = await call('GET', '/readyz')
    expect(r.status).toBe(200)
  })

  test('readiness is 503 with the reason when Nomad does not answer', async () => {
    const down = createApp({ ...service, submitJob: service.submitJob, ready: async () => ({ ok: false, reason: 'connection refused' }) } as never)
    const res = await down.handle(new Request('http://localhost/readyz'))
    expect(res.status).toBe(503)
    expect(((await res.json()) as { reason: string }).reason).toContain('connection refused')
  })

  test('none of the refused requests created a Nomad job', async () => {
    expect(await newJobsFor(before, valid.image)).toEqual([])
  })
})
