// Hostile input, table-driven, through REST and MCP: each case is refused with a 4xx (or isError)
// that names the field, and not one of them creates a Nomad job (the suite asks Nomad).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { type TSchema, TypeGuard } from '@sinclair/typebox'
import { createApp } from '../../src/http/app'
import { renderJob } from '../../src/jobs/render'
import { JobRequest } from '../../src/jobs/request'
import { validateRequest } from '../../src/jobs/validate'
import { MAX_BODY_BYTES } from '../../src/service/server-info'
import { BuildService } from '../../src/service/build-service'
import { Clients, newClient } from '../../src/service/clients'
import { config, ensureStack, nomad, service, urls } from '../support/dev-stack'
import { nomadJobIds } from '../support/surfaces'

const alice = newClient('alice', ['nomad:nbs/alice/', 'vault:kv/data/nbs/alice/'])
const bob = newClient('bob', [])
const clients = new Clients([alice.entry, bob.entry])
const authenticate = (h: string | null | undefined) => clients.authenticate(h)
// A production-like server: no git:// or http:// repositories.
const strict = createApp(new BuildService(nomad, { ...config, allowInsecureGit: false }), { authenticate })
const dev = createApp(service, { authenticate })

const base = { repo: 'https://git.example.com/acme/app.git', image: 'registry.example.com/acme/app', test: { commands: ['true'] } }
const T = '{{ env "NOMAD_TOKEN" }}'

type Case = [name: string, body: Record<string, unknown>, field: string]
const with_ = (patch: Record<string, unknown>): Record<string, unknown> => ({ ...base, ...patch })

const cases: Case[] = [
  // Template delimiters in every string field that reaches the job other than as base64.
  ['template in repo', with_({ repo: `https://h.example/${T}` }), 'repo'],
  ['template in ref', with_({ ref: T }), 'ref'],
  ['template in context', with_({ context: `a/{{ .x }}` }), 'context'],
  ['template in dockerfile', with_({ dockerfile: `{{ .x }}/Dockerfile` }), 'dockerfile'],
  ['template in target', with_({ target: T }), 'target'],
  ['template in image', with_({ image: `registry.example.com/${T}` }), 'image'],
  ['template in a tag', with_({ tags: [T] }), 'tags[0]'],
  ['template in a build arg name', with_({ buildArgs: { [T]: 'x' } }), `buildArgs.${T}`],
  ['template in a test env name', with_({ test: { commands: ['true'], env: { [T]: 'x' } } }), `test.env.${T}`],
  ['template in a secret reference', with_({ secrets: { registry: `nomad:nbs/alice/${T}` } }), 'secrets.registry'],
  ['template in a build secret id', with_({ secrets: { build: { [T]: 'nomad:nbs/alice/x' } } }), `secrets.build.${T}`],
  ['closing quote in a secret path', with_({ secrets: { git: 'nomad:nbs/alice/x" }}{{ env "A' } }), 'secrets.git'],
  ['interpolation in ref', with_({ ref: '${NOMAD_ALLOC_ID}' }), 'ref'],
  ['interpolation in a tag', with_({ tags: ['${node.unique.id}'] }), 'tags[0]'],
  // Shell metacharacters where a name is expected.
  ['semicolon in ref', with_({ ref: 'main;id' }), 'ref'],
  ['command substitution in ref', with_({ ref: '$(id)' }), 'ref'],
  ['backticks in a tag', with_({ tags: ['`id`'] }), 'tags[0]'],
  ['pipe in a tag', with_({ tags: ['a|b'] }), 'tags[0]'],
  ['ampersand in a tag', with_({ tags: ['a&b'] }), 'tags[0]'],
  ['space in a tag', with_({ tags: ['a b'] }), 'tags[0]'],
  ['newline in a tag', with_({ tags: ['a\nb'] }), 'tags[0]'],
  ['option-looking ref', with_({ ref: '--upload-pack=touch /tmp/pwned' }), 'ref'],
  ['semicolon in target', with_({ target: 'a;b' }), 'target'],
  ['semicolon in image', with_({ image: 'registry.example.com/a;b' }), 'image'],
  ['dash in a build arg name', with_({ buildArgs: { 'A-B': '1' } }), 'buildArgs.A-B'],
  ['semicolon in a test env name', with_({ test: { commands: ['true'], env: { 'A;B': '1' } } }), 'test.env.A;B'],
  ['context escaping the repo', with_({ context: '../../etc' }), 'context'],
  ['absolute dockerfile', with_({ dockerfile: '/etc/shadow' }), 'dockerfile'],
  ['control character in context', with_({ context: 'a\u0007b' }), 'context'],
  // Repository URLs that are not network Git.
  ['file:// repo', with_({ repo: 'file:///etc' }), 'repo'],
  ['local path repo', with_({ repo: '/srv/git/app' }), 'repo'],
  ['relative path repo', with_({ repo: './app' }), 'repo'],
  ['ext:: repo', with_({ repo: 'ext::sh -c touch% /tmp/pwned' }), 'repo'],
  ['fd:: repo', with_({ repo: 'fd::17' }), 'repo'],
  ['git:// on a production server', with_({ repo: 'git://git.example.com/app' }), 'repo'],
  ['http:// on a production server', with_({ repo: 'http://git.example.com/app' }), 'repo'],
  ['password in the URL', with_({ repo: 'https://u:hunter2@git.example.com/app' }), 'repo'],
  ['ssh option as host', with_({ repo: 'ssh://-oProxyCommand=touch%20x/app' }), 'repo'],
  ['scp-like with an option host', with_({ repo: 'git@-oProxyCommand=x:app' }), 'repo'],
  ['option-looking repo', with_({ repo: '-uhttps://git.example.com/app' }), 'repo'],
  // Image references.
  ['uppercase image', with_({ image: 'registry.example.com/Acme/App' }), 'image'],
  ['image with a tag', with_({ image: 'registry.example.com/acme/app:v1' }), 'image'],
  ['image with a digest', with_({ image: `registry.example.com/acme/app@sha256:${'a'.repeat(64)}` }), 'image'],
  ['empty path component', with_({ image: 'registry.example.com//app' }), 'image'],
  ['leading dash image', with_({ image: '-registry.example.com/app' }), 'image'],
  ['tag too long', with_({ tags: ['a'.repeat(129)] }), 'tags[0]'],
  ['tag starting with a dot', with_({ tags: ['.hidden'] }), 'tags[0]'],
  // The cache registry: a repository of the image's registry, never the image's own.
  ['template in cache.registry', with_({ cache: { registry: `registry.example.com/${T}` } }), 'cache.registry'],
  ['cache.registry on another registry', with_({ cache: { registry: 'evil.example.com/acme/cache' } }), 'cache.registry'],
  ["cache.registry the image's own repository", with_({ cache: { registry: base.image } }), 'cache.registry'],
  ['cache.registry with a tag', with_({ cache: { registry: 'registry.example.com/acme/cache:v1' } }), 'cache.registry'],
  ['unknown field in cache', with_({ cache: { registry: 'registry.example.com/acme/cache', push: 'always' } }), 'cache.push'],
  ['noCache not a boolean', with_({ noCache: 'yes' }), 'noCache'],
  // Secret references.
  ['secret outside the allow list', with_({ secrets: { registry: 'nomad:nbs/bob/registry' } }), 'secrets.registry'],
  ['vault secret outside the allow list', with_({ secrets: { git: 'vault:kv/data/nbs/bob/git' } }), 'secrets.git'],
  ['a secret value instead of a reference', with_({ secrets: { registry: 'hunter2' } }), 'secrets.registry'],
  ['an unknown secret backend', with_({ secrets: { registry: 'aws:sm/registry' } }), 'secrets.registry'],
  ['an unknown secret kind', with_({ secrets: { ssh: 'nomad:nbs/alice/k' } }), 'secrets.ssh'],
  ['an SSH key without host keys', with_({ repo: 'ssh://git@git.example.com/acme/app.git', secrets: { gitSsh: 'vault:kv/data/nbs/alice/deploy' } }), 'secrets.gitKnownHosts'],
  ['host keys outside the allow list', with_({ secrets: { gitSsh: 'vault:kv/data/nbs/alice/deploy', gitKnownHosts: 'vault:kv/data/nbs/bob/hosts' } }), 'secrets.gitKnownHosts'],
  ['host keys climbing out of the prefix', with_({ secrets: { gitSsh: 'vault:kv/data/nbs/alice/deploy', gitKnownHosts: 'vault:kv/data/nbs/alice/../bob/hosts' } }), 'secrets.gitKnownHosts'],
  // Sizes and counts.
  ['too many test commands', with_({ test: { commands: Array(33).fill('true') } }), 'test.commands'],
  ['a test command too long', with_({ test: { commands: ['x'.repeat(8193)] } }), 'test.commands[0]'],
  ['too many tags', with_({ tags: Array.from({ length: 17 }, (_, i) => `t${i}`) }), 'tags'],
  ['too many build args', with_({ buildArgs: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`A${i}`, 'x'])) }), 'buildArgs'],
  ['a build arg value too long', with_({ buildArgs: { A: 'x'.repeat(4097) } }), 'buildArgs.A'],
  ['absurd resources', with_({ resources: { memory: 1e12 } }), 'resources.memory'],
  // Requests a task could not start with: Linux takes at most 128 KiB in one environment variable.
  ['32 test.env values of 4 KiB', with_({ test: { commands: ['true'], env: Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`V${i}`, 'x'.repeat(4096)])) } }), 'test.env'],
  ['build args over the request size', with_({ buildArgs: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`A${i}`, 'x'.repeat(4096)])) }), 'buildArgs'],
  ['exec-form arguments over the request size', with_({ test: { commands: [Array(9).fill('x'.repeat(8192))] } }), 'test.commands'],
  ['a test env name of 129 characters', with_({ test: { commands: ['true'], env: { [`E${'x'.repeat(128)}`]: '1' } } }), `test.env.E${'x'.repeat(128)}`],
  // Shape.
  ['unknown top-level field', with_({ privileged: true }), 'privileged'],
  ['unknown field in test', with_({ test: { commands: ['true'], network: 'host' } }), 'test.network'],
  ['driver override attempt', with_({ resources: { cpu: 100, driver: 'raw_exec' } }), 'resources.driver'],
  ['wrong type', with_({ tags: 'latest' }), 'tags'],
  ['missing image', { repo: base.repo }, 'image'],
]

const post = (app: typeof strict, body: string, token: string, headers: Record<string, string> = {}) =>
  app.handle(
    new Request('http://127.0.0.1/v1/jobs', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers },
      body,
    }),
  )

let before: string[]
let alicesJob: string

beforeAll(async () => {
  await ensureStack()
  const res = await post(dev, JSON.stringify({ repo: `${urls.git}/hello-world`, image: `${urls.registry}/test/hostile` }), alice.token)
  alicesJob = ((await res.json()) as { id: string }).id
  before = await nomadJobIds()
}, 120_000)

afterAll(async () => {
  // Everything refused left Nomad without a new job (old ones may be garbage-collected meanwhile).
  expect((await nomadJobIds()).filter((id) => !before.includes(id))).toEqual([])
})

describe('REST refuses hostile input, naming the field', () => {
  test.each(cases)('%s', async (_, body, field) => {
    const res = await post(strict, JSON.stringify(body), alice.token)
    expect(res.status).toBe(400)
    expect(res.headers.get('content-type')).toStartWith('application/problem+json')
    const problem = (await res.json()) as { field?: string; errors?: { field: string }[]; detail: string }
    const fields = [problem.field, ...(problem.errors ?? []).map((e) => e.field)]
    expect(fields).toContain(field)
    expect(problem.detail).toContain(field)
  })

  test('malformed JSON: 400 problem', async () => {
    const res = await post(strict, '{"repo": ', alice.token)
    expect(res.status).toBe(400)
    expect(((await res.json()) as { detail: string }).detail.toLowerCase()).toContain('json')
  })

  test('an oversized body: 413 problem naming the body', async () => {
    const big = JSON.stringify(with_({ buildArgs: { A: 'x'.repeat(MAX_BODY_BYTES) } }))
    const res = await post(strict, big, alice.token, { 'content-length': String(big.length) })
    expect(res.status).toBe(413)
    expect(((await res.json()) as { field: string }).field).toBe('body')
  })

  test.each([
    ['no token', undefined],
    ['a wrong token', 'nbs_not-a-real-token'],
  ])('%s: 401 before anything is read', async (_, token) => {
    const res = await strict.handle(
      new Request('http://127.0.0.1/v1/jobs', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(base),
      }),
    )
    expect(res.status).toBe(401)
    expect(((await res.json()) as { field: string }).field).toBe('authorization')
  })

  test.each([
    ['GET', ''],
    ['GET', '/logs'],
    ['GET', '/wait?timeoutSeconds=1'],
    ['DELETE', ''],
  ])("another client's job id answers 404: %s %s", async (method, suffix) => {
    const res = await strict.handle(
      new Request(`http://127.0.0.1/v1/jobs/${alicesJob}${suffix}`, { method, headers: { authorization: `Bearer ${bob.token}` } }),
    )
    expect(res.status).toBe(404)
    expect(((await res.json()) as { field: string }).field).toBe('id')
  })

  test("another client's job id cannot be cleaned up", async () => {
    const res = await strict.handle(
      new Request('http://127.0.0.1/v1/cleanup', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${bob.token}` },
        body: JSON.stringify({ id: alicesJob }),
      }),
    )
    expect(res.status).toBe(404)
  })
})

describe('every string the request schema takes, with template and interpolation syntax in it', () => {
  // Each container the schema has, with one entry, so that each place a string goes exists.
  const full = {
    ...base,
    ref: 'main',
    context: 'app',
    dockerfile: 'Dockerfile',
    buildArgs: { A: '1' },
    target: 'prod',
    tags: ['v1'],
    test: { commands: ['true'], env: { E: '1' }, gpus: { count: 1, vendor: 'nvidia', model: 'T4' } },
    secrets: { gitSsh: 'nomad:nbs/alice/k', gitKnownHosts: 'nomad:nbs/alice/h', registry: 'nomad:nbs/alice/r', build: { npm: 'nomad:nbs/alice/n' } },
    cache: { registry: 'registry.example.com/acme/app-cache' },
  }
  const hostile = `${T}\${NOMAD_ALLOC_ID}`
  const places = stringPlaces(JobRequest)

  test('the schema was walked: every field of the request is among the places', () => {
    const tops = new Set(places.map((p) => String(p[0])))
    for (const [k, s] of Object.entries(JobRequest.properties)) if (JSON.stringify(s).includes('"string"')) expect(tops).toContain(k)
  })

  test.each(places.map((p) => [withAt(full, p, hostile).field, p] as const))('%s: refused naming it, or carried to the tasks in base64 only', async (field, place) => {
    const { body } = withAt(full, place, hostile)
    let accepted: JobRequest | undefined
    try {
      accepted = validateRequest(body, { allowInsecureGit: false, secretPrefixes: alice.entry.secretPrefixes, sshHostKeyChecking: true })
    } catch {
      const res = await post(strict, JSON.stringify(body), alice.token)
      expect(res.status).toBe(400)
      const problem = (await res.json()) as { field?: string; errors?: { field: string }[] }
      expect([problem.field, ...(problem.errors ?? []).map((e) => e.field)]).toContain(field)
      return
    }
    const job = renderJob({ id: '20261125-120000-abcdef', request: accepted, createdAt: new Date() }, config)
    // Neither part reaches the tasks as written: the job carries the value in base64 alone.
    const tasks = JSON.stringify(job.TaskGroups)
    expect([T, '${NOMAD_ALLOC_ID}'].filter((raw) => tasks.includes(raw))).toEqual([])
    const carried = job.TaskGroups[0]!.Tasks.flatMap((t) => Object.entries(t.Env ?? {}))
      .filter(([k]) => k.startsWith('NBS_B64_'))
      .flatMap(([, v]) => v.split(' ').map((w) => Buffer.from(w, 'base64').toString()))
    expect(carried.some((v) => v.includes(hostile))).toBe(true)
  })
})

type Step = string | number | { record: 'key' | 'value' }

/** Where a schema takes a string: object fields, the first item of arrays, record keys and values, each branch of a union. */
function stringPlaces(schema: TSchema, at: Step[] = []): Step[][] {
  if (TypeGuard.IsString(schema)) return [at]
  if (TypeGuard.IsObject(schema)) return Object.entries(schema.properties).flatMap(([k, s]) => stringPlaces(s, [...at, k]))
  if (TypeGuard.IsRecord(schema))
    return [[...at, { record: 'key' }], ...stringPlaces(Object.values(schema.patternProperties)[0]!, [...at, { record: 'value' }])]
  if (TypeGuard.IsArray(schema)) return stringPlaces(schema.items, [...at, 0])
  if (TypeGuard.IsUnion(schema)) return schema.anyOf.flatMap((s) => stringPlaces(s, at))
  return []
}

/**
 * A copy of `value` with `text` at `place` and the field a refusal names for it: a record's (one)
 * key is renamed to the text, or its value set; containers are made as the place needs them.
 */
function withAt(value: Record<string, unknown>, place: Step[], text: string): { body: Record<string, unknown>; field: string } {
  const body = structuredClone(value)
  let node: Record<string | number, unknown> = body
  let field = ''
  const name = (n: string) => (field = field ? `${field}.${n}` : n)
  place.forEach((step, i) => {
    const last = i === place.length - 1
    if (typeof step === 'object') {
      const [k = 'K'] = Object.keys(node)
      if (step.record === 'key') {
        node[text] = node[k] ?? '1'
        delete node[k]
        name(text)
      } else {
        name(k)
        if (last) node[k] = text
        else node = node[k] as Record<string, unknown>
      }
      return
    }
    if (typeof step === 'number') field += `[${step}]`
    else name(step)
    if (last) node[step] = text
    else {
      const wantsArray = typeof place[i + 1] === 'number'
      const next = node[step]
      if (wantsArray ? !Array.isArray(next) : typeof next !== 'object' || next === null || Array.isArray(next)) node[step] = wantsArray ? [] : {}
      node = node[step] as Record<string | number, unknown>
    }
  })
  return { body, field }
}

describe('MCP refuses the same input with isError naming the field', () => {
  let client: Client
  let server: ReturnType<typeof strict.listen>
  beforeAll(async () => {
    server = createApp(new BuildService(nomad, { ...config, allowInsecureGit: false }), { authenticate }).listen({ hostname: '127.0.0.1', port: 0 })
    client = new Client({ name: 'nbs-hostile', version: '0.0.0' })
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${server.server?.port}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${alice.token}` } },
      }),
    )
  })
  afterAll(async () => {
    await client.close()
    await server.stop(true)
  })

  test.each(cases)('%s', async (_, body, field) => {
    const r = (await client.callTool({ name: 'submitJob', arguments: body })) as { isError?: boolean; content: { text: string }[] }
    expect(r.isError).toBe(true)
    expect(r.content.map((c) => c.text).join('\n')).toContain(field)
  })

  test("another client's job: isError, not found", async () => {
    const bobs = new Client({ name: 'nbs-hostile-bob', version: '0.0.0' })
    await bobs.connect(
      new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${server.server?.port}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${bob.token}` } },
      }),
    )
    for (const name of ['getStatus', 'killJob', 'getLogs']) {
      const r = (await bobs.callTool({ name, arguments: { id: alicesJob } })) as { isError?: boolean; content: { text: string }[] }
      expect(r.isError).toBe(true)
      expect(r.content[0]?.text).toContain(`no job ${alicesJob}`)
    }
    await bobs.close()
  })
})
