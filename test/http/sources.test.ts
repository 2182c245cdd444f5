// POST /v1/sources against the dev agent's Variables: what is taken, what is refused and when, who
// may build it, who may fetch it, and what the reconciler's eviction keeps.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp } from '../../src/http/app'
import { nomadJobId } from '../../src/jobs/ids'
import { BuildService } from '../../src/service/build-service'
import { Clients, newClient } from '../../src/service/clients'
import { config, ensureStack, nomad, urls } from '../support/dev-stack'
import { freePort } from '../support/surfaces'
import { sha256, tarball } from '../support/tarball'

const MB = 2 ** 20
const alice = newClient('alice', [])
const bob = newClient('bob', [])
const clients = new Clients([alice.entry, bob.entry])
const port = await freePort()
const url = `http://127.0.0.1:${port}`
const spool = mkdtempSync(join(tmpdir(), 'nbs-spool-'))
const sources = { dir: spool, maxBytes: 1 * MB, spoolBytes: 3 * MB, ttlSeconds: 3600, advertiseUrl: url }
const service = new BuildService(nomad, { ...config, sources })
const app = createApp(service, { authenticate: (h) => clients.authenticate(h), sourceBytes: sources.maxBytes }).listen({ hostname: '127.0.0.1', port })

const as = (who: { token: string }, extra: Record<string, string> = {}) => ({ authorization: `Bearer ${who.token}`, ...extra })
const upload = (body: BodyInit, who = alice, headers: Record<string, string> = {}) =>
  fetch(`${url}/v1/sources`, { method: 'POST', headers: as(who, { 'content-type': 'application/gzip', ...headers }), body })
const problem = async (res: Response) => (await res.json()) as { field?: string; detail: string }
const request = (source: string) => ({ source, image: `${urls.registry}/nbs-test/upload`, test: { commands: ['true'] } })

beforeAll(async () => {
  await ensureStack()
}, 120_000)

afterAll(async () => {
  await app.stop(true)
})

describe('uploading a source', () => {
  test('a tar.gz is taken whole: its id is the sha256 of the bytes, announced for its owner with this replica', async () => {
    const bytes = await tarball([
      { name: 'Dockerfile', text: 'FROM scratch\n' },
      { name: 'app/run.sh', text: '#!/bin/sh\n', mode: 0o755 },
      { name: 'link', type: 'symlink', target: 'app/run.sh' },
      { name: 'out', type: 'symlink', target: '/etc' },
    ])
    const res = await upload(bytes)
    expect(res.status).toBe(201)
    const body = (await res.json()) as { source: string; size: number; expiresAt: string }
    expect(body.source).toBe(`sha256:${sha256(bytes)}`)
    expect(body.size).toBe(bytes.length)
    expect(Date.parse(body.expiresAt) - Date.now()).toBeGreaterThan(3500_000)
    expect(readdirSync(spool)).toContain(sha256(bytes))
    const entry = await nomad.variables.get(`nbs-sources/alice/${sha256(bytes)}`)
    expect(entry?.Items).toMatchObject({ replica: url, size: String(bytes.length) })
  })

  test('a plain tar is taken too', async () => {
    const res = await upload(await tarball([{ name: 'Dockerfile', text: 'FROM scratch\n' }], false), alice, { 'content-type': 'application/x-tar' })
    expect(res.status).toBe(201)
  })

  test('bytes that are not an archive: 400 naming body, saying what was sent and how to send one', async () => {
    for (const [junk, words] of [
      ['hello, this is not a tarball', 'not a tar or tar.gz archive (it starts with "hello, this is n")'],
      ['', 'empty'],
    ] as const) {
      const res = await upload(junk)
      expect(res.status).toBe(400)
      const p = await problem(res)
      expect(p.field).toBe('body')
      expect(p.detail).toContain(words)
    }
    // Nothing of them stays in the spool.
    expect(readdirSync(spool).filter((f) => f.startsWith('.upload-'))).toEqual([])
  })

  test.each([
    ['a .. entry', [{ name: '../escape', text: 'x' }], 'has a .. part'],
    ['an absolute path', [{ name: '/etc/cron.d/x', text: 'x' }], 'is an absolute path'],
    ['a hard link', [{ name: 'a', text: 'x' }, { name: 'b', type: 'link' as const, target: '/etc/shadow' }], 'a hard link'],
    ['a fifo', [{ name: 'f', type: 'fifo' as const }], 'a fifo'],
    ['a file written through a symlink it made', [{ name: 'd', type: 'symlink' as const, target: '/etc' }, { name: 'd/cron', text: 'x' }], 'written through d, a symlink'],
  ] as const)('an archive with %s is refused, naming the entry', async (_, entries, words) => {
    const res = await upload(await tarball([...entries]))
    expect(res.status).toBe(400)
    expect((await problem(res)).detail).toContain(words)
  })

  test('an archive that unpacks to more than ten times the limit is refused (a gzip bomb)', async () => {
    const res = await upload(await tarball([{ name: 'zeros', text: '\0'.repeat(11 * MB) }]))
    expect(res.status).toBe(400)
    expect((await problem(res)).detail).toContain('unpacks to more than 10 MB')
  })

  test('over the limit with its length declared: 413 before a byte of the body is read', async () => {
    // A raw request that announces 1.5 MB and sends none: the answer must come anyway. (Far past
    // the limit, Bun's own bound on a request answers 413 first, with no body.)
    const answer = await new Promise<string>((resolve, reject) => {
      let text = ''
      Bun.connect({
        hostname: '127.0.0.1',
        port,
        socket: {
          open(s) {
            s.write(`POST /v1/sources HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${alice.token}\r\nContent-Type: application/gzip\r\nContent-Length: ${1.5 * MB}\r\n\r\n`)
          },
          data(s, d) {
            text += d.toString()
            if (text.includes('\r\n\r\n') && text.includes('}')) {
              s.end()
              resolve(text)
            }
          },
          error: (_, e) => reject(e),
          close: () => resolve(text),
        },
      })
      setTimeout(() => resolve(text), 10_000)
    })
    expect(answer).toStartWith('HTTP/1.1 413')
    expect(answer).toContain('over the 1 MB a source may have')
  })

  test('over the limit while streaming: 413 once past it, and the rest is not read', async () => {
    let pulled = 0
    const chunk = new Uint8Array(64 * 1024).fill(7)
    chunk.set([0x1f, 0x8b])
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        pulled += chunk.length
        if (pulled > 20 * MB) c.close()
        else c.enqueue(chunk)
      },
    })
    const res = await fetch(`${url}/v1/sources`, { method: 'POST', headers: as(alice), body, duplex: 'half' } as RequestInit)
    expect(res.status).toBe(413)
    expect((await problem(res)).detail).toContain('the upload passed')
    expect(pulled).toBeLessThan(20 * MB)
    expect(readdirSync(spool).filter((f) => f.startsWith('.upload-'))).toEqual([])
  })

  test('a full spool answers 507 saying so; an expired upload nobody builds makes room', async () => {
    const ttl = new BuildService(nomad, { ...config, sources: { ...sources, dir: mkdtempSync(join(tmpdir(), 'nbs-spool-')), ttlSeconds: 1, spoolBytes: 700 * 1024 } })
    const big = (n: number) => tarball([{ name: `blob-${n}`, text: crypto.getRandomValues(new Uint8Array(400 * 1024)) }])
    const firstBytes = await big(1)
    const second = await big(2)
    // Each takes more than half the spool.
    expect(Math.min(firstBytes.length, second.length)).toBeGreaterThan(350 * 1024)
    const first = await ttl.uploadSource(new Blob([firstBytes]), { owner: 'alice' })
    const refused = await ttl.uploadSource(new Blob([second]), { owner: 'alice' }).catch((e) => e)
    expect(refused.code).toBe('insufficient_storage')
    expect(refused.message).toContain('spool is full')
    await Bun.sleep(1100)
    // The first has expired and no build names it: eviction frees its room.
    const taken = await ttl.uploadSource(new Blob([second]), { owner: 'alice' })
    expect(taken.source).toBe(`sha256:${sha256(second)}`)
    expect(await nomad.variables.get(`nbs-sources/alice/${first.source.slice(7)}`)).toBeNull()
  })
})

describe('building an upload', () => {
  test('another client, or an id nobody uploaded, is refused at submit naming source', async () => {
    const bytes = await tarball([{ name: 'Dockerfile', text: `FROM scratch\n# ${Date.now()}\n` }])
    const { source } = (await (await upload(bytes)).json()) as { source: string }
    for (const [who, id] of [[bob, source], [alice, `sha256:${'0'.repeat(64)}`]] as const) {
      const res = await fetch(`${url}/v1/jobs`, { method: 'POST', headers: as(who, { 'content-type': 'application/json' }), body: JSON.stringify(request(id)) })
      expect(res.status).toBe(404)
      const p = await problem(res)
      expect(p.field).toBe('source')
      expect(p.detail).toContain('no upload')
    }
  })

  test('repo and source together, neither, or ref with source: refused naming the field', async () => {
    const src = `sha256:${'a'.repeat(64)}`
    for (const [body, field] of [
      [{ ...request(src), repo: 'https://git.example.com/a.git' }, 'source'],
      [{ image: `${urls.registry}/x/y` }, 'repo'],
      [{ ...request(src), ref: 'main' }, 'ref'],
    ] as const) {
      const res = await fetch(`${url}/v1/jobs`, { method: 'POST', headers: as(alice, { 'content-type': 'application/json' }), body: JSON.stringify(body) })
      expect(res.status).toBe(400)
      expect((await problem(res)).field).toBe(field)
    }
  })

  test("the archive is served to the build that names it, with its job's token only, while it runs", async () => {
    const bytes = await tarball([{ name: 'Dockerfile', text: `FROM scratch\n# ${Date.now()}\n` }])
    const { source } = (await (await upload(bytes)).json()) as { source: string }
    const hex = source.slice(7)
    const submitted = await fetch(`${url}/v1/jobs`, { method: 'POST', headers: as(alice, { 'content-type': 'application/json' }), body: JSON.stringify(request(source)) })
    expect(submitted.status).toBe(201)
    const { id } = (await submitted.json()) as { id: string }
    const job = (await nomad.jobs.info(nomadJobId(id))).data
    const artifact = job.TaskGroups?.[0]?.Tasks.find((t) => t.Name === 'build')?.Artifacts?.[0]
    expect(artifact?.GetterOptions).toEqual({ checksum: source, archive: 'false' })
    expect(artifact?.GetterSource).toBe(`${url}/v1/sources/${hex}/archive?build=${id}`)
    const token = artifact?.GetterHeaders?.Authorization ?? ''
    expect(token).toStartWith('Bearer ')
    // The token is in the job, never in the request Meta that status answers carry.
    expect(job.Meta?.['nbs.request']).not.toContain(token.slice(7))
    const fetchAs = (authorization?: string) => fetch(artifact?.GetterSource ?? '', { headers: authorization ? { authorization } : {} })
    expect((await fetchAs()).status).toBe(403)
    expect((await fetchAs(`Bearer ${alice.token}`)).status).toBe(403)
    await service.killJob(id, { owner: 'alice' })
    // A stopped build's token no longer opens it.
    expect((await fetchAs(token)).status).toBe(403)
  })
})

describe('eviction', () => {
  test("an expired upload a live build names is kept; once no build needs it, it goes with its entry", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nbs-spool-'))
    let inUse = true
    const spoolOf = (await import('../../src/service/sources')).SourceSpool
    const s = new spoolOf(nomad, { ...sources, dir, ttlSeconds: 1 }, async () => new Set(inUse ? [`sha256:${hex}`] : []))
    const bytes = await tarball([{ name: 'Dockerfile', text: `FROM scratch\n# evict ${Date.now()}\n` }])
    const hex = sha256(bytes)
    await s.receive(new Blob([bytes]).stream(), 'alice')
    await Bun.sleep(1100)
    await s.evict()
    expect(existsSync(join(dir, hex))).toBe(true)
    inUse = false
    await s.evict()
    expect(existsSync(join(dir, hex))).toBe(false)
    expect(await nomad.variables.get(`nbs-sources/alice/${hex}`)).toBeNull()
  })
})
