// Client tokens on the surfaces: 401 problems without a token, owners that do not see each other's jobs, MCP too.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { HttpBuildApi } from '../../src/cli/http-client'
import { ServiceError } from '../../src/errors'
import { createApp } from '../../src/http/app'
import { Clients, newClient } from '../../src/service/clients'
import { urls } from '../support/dev-stack'
import { ensureStack, service } from '../support/surfaces'

const alice = newClient('alice', [])
const bob = newClient('bob', [])
// A name of its own each run: jobs of earlier runs stay in Nomad under their owner.
const carol = newClient(`carol-${Date.now().toString(36)}`, [])
const clients = new Clients([alice.entry, bob.entry, { ...carol.entry, maxInFlight: 1 }])
const app = createApp(service, { authenticate: (h) => clients.authenticate(h) }).listen({ hostname: '127.0.0.1', port: 0 })
const url = `http://127.0.0.1:${app.server?.port}`

beforeAll(async () => {
  await ensureStack()
}, 120_000)

afterAll(async () => {
  await app.stop(true)
})

describe('client tokens', () => {
  test('no token or a wrong one: 401 problem naming authorization; health stays open', async () => {
    for (const headers of [{} as Record<string, string>, { authorization: 'Bearer nbs_wrong' }, { authorization: `Basic ${alice.token}` }]) {
      const res = await fetch(`${url}/v1/jobs`, { headers })
      expect(res.status).toBe(401)
      expect(res.headers.get('content-type')).toStartWith('application/problem+json')
      expect(((await res.json()) as { field: string }).field).toBe('authorization')
    }
    // Authentication comes before validation: a stranger is not told which field is wrong.
    const body = await fetch(`${url}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"bogus":1}' })
    expect(body.status).toBe(401)
    expect((await fetch(`${url}/healthz`)).status).toBe(200)
    expect((await fetch(`${url}/openapi.json`)).status).toBe(200)
  })

  test("an owner's job does not exist for another owner", async () => {
    const a = new HttpBuildApi(url, alice.token)
    const b = new HttpBuildApi(url, bob.token)
    const { id } = await a.submitJob({ repo: `${urls.git}/hello-world`, image: `${urls.registry}/test/auth`, test: { commands: ['true'] } })
    expect((await a.getStatus(id)).id).toBe(id)
    const err = await b.getStatus(id).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ServiceError)
    expect((err as ServiceError).code).toBe('not_found')
    expect((await b.listJobs({ limit: 500 })).jobs.map((j) => j.id)).not.toContain(id)
    expect((await a.listJobs({ limit: 500 })).jobs.map((j) => j.id)).toContain(id)
    const final = await a.waitForJob({ id, until: 'final', timeoutSeconds: 60 })
    expect(final.status).toBe('SUCCEEDED')
    // Every route knows the caller, cleanup included.
    expect(((await b.cleanup({ id }).catch((e: unknown) => e)) as ServiceError).code).toBe('not_found')
    expect(((await b.killJob(id).catch((e: unknown) => e)) as ServiceError).code).toBe('not_found')
    expect((await a.cleanup({ id })).removed).toEqual([id])
  }, 120_000)

  test('MCP: 401 without a token; with one, the tools act as that owner', async () => {
    const anonymous = await fetch(`${url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    })
    expect(anonymous.status).toBe(401)
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer')
    const mcpAs = async (token: string) => {
      const client = new Client({ name: 'nbs-test-auth', version: '0.0.0' })
      await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } }))
      return client
    }
    const api = new HttpBuildApi(url, alice.token)
    const { id } = await api.submitJob({ repo: `${urls.git}/hello-world`, image: `${urls.registry}/test/auth`, test: { commands: ['true'] } })
    const [asAlice, asBob] = await Promise.all([mcpAs(alice.token), mcpAs(bob.token)])
    type R = { isError?: boolean; content: { text: string }[]; structuredContent?: { id?: string } }
    const mine = (await asAlice.callTool({ name: 'getStatus', arguments: { id } })) as R
    const theirs = (await asBob.callTool({ name: 'getStatus', arguments: { id } })) as R
    await Promise.all([asAlice.close(), asBob.close()])
    expect(mine.isError).toBeFalsy()
    expect(mine.structuredContent?.id).toBe(id)
    expect(theirs.isError).toBe(true)
    expect(theirs.content[0]?.text).toContain(`no job ${id}`)
    expect((await api.waitForJob({ id, until: 'final', timeoutSeconds: 60 })).status).toBe('SUCCEEDED')
    expect((await api.cleanup({ id })).removed).toEqual([id])
  }, 120_000)
})

describe('a per-client limit on builds in flight', () => {
  test('over the limit: 429 with Retry-After and a problem saying why; no job created; other clients unaffected', async () => {
    const c = new HttpBuildApi(url, carol.token)
    const slow = { repo: `${urls.git}/hello-world`, image: `${urls.registry}/test/limit`, test: { commands: ['sleep 20'] } }
    const first = await c.submitJob(slow)
    try {
      const res = await fetch(`${url}/v1/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${carol.token}` },
        body: JSON.stringify(slow),
      })
      expect(res.status).toBe(429)
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0)
      expect(res.headers.get('content-type')).toStartWith('application/problem+json')
      const problem = (await res.json()) as { type: string; detail: string }
      expect(problem.type).toEndWith('/too_many_requests')
      expect(problem.detail).toContain('1 at once is your limit')
      expect((await c.listJobs({ limit: 500 })).jobs.map((j) => j.id)).toEqual([first.id])
      // The CLI's client turns the problem back into the typed error.
      expect(((await c.submitJob(slow).catch((e: unknown) => e)) as ServiceError).code).toBe('too_many_requests')
      const a = new HttpBuildApi(url, alice.token)
      const other = await a.submitJob({ ...slow, test: { commands: ['true'] } })
      await a.killJob(other.id)
    } finally {
      await c.killJob(first.id)
    }
  }, 60_000)
})
