// The service reading a finished build from a server that answers exactly as a real Nomad 2.0.5 did:
// the recorded job and allocation, and fs/cat's quirk of answering 200 with the error text for a
// file that does not exist (conformance: client-fs).
import { afterAll, describe, expect, test } from 'bun:test'
import { loadConfig } from '../../src/config'
import { NomadClient } from '../../src/nomad/client'
import type { Allocation, Job } from '../../src/nomad/types'
import { BuildService } from '../../src/service/build-service'
import { fixture } from '../support/fixtures'

const scenario = 'buildah-pipeline-success'
const id = '20261201-120000-abcdef'
const job = { ...fixture<Job>(scenario, 'job-final.json'), ID: `nbs-${id}`, Meta: { ...fixture<Job>(scenario, 'job-final.json').Meta, 'nbs.id': id } }
// The same job with a request in its Meta that no client could have submitted.
const tamperedId = '20261201-120000-bad000'
const tampered = { ...job, ID: `nbs-${tamperedId}`, Meta: { ...job.Meta, 'nbs.id': tamperedId, 'nbs.request': '{"repo":"file:///etc","image":"x","extra":1}' } }
const alloc = { ...fixture<Allocation>(scenario, 'alloc-final.json'), JobID: job.ID }
// What the publish task left in alloc/nbs: a digest, the pushed reference, the commit, the test's exit code.
const files: Record<string, string> = {
  digest: fixture<string>(scenario, 'cat-digest.json'),
  published: '127.0.0.1:5000/fixtures/hello:success\n',
  commit: `${'a'.repeat(40)}\n`,
  'test-0.exit': fixture<string>(scenario, 'cat-test-0.exit.json'),
}
// The shape of a recorded fs/ls entry.
const lsEntry = { ...JSON.parse(fixture<{ body: string }>('client-fs', 'ls-alloc_out.json').body)[0] }

const requests: string[] = []
const nomad = Bun.serve({
  hostname: '127.0.0.1',
  port: 0,
  fetch(req) {
    const url = new URL(req.url)
    requests.push(`${url.pathname}?${url.searchParams.get('path') ?? ''}`)
    const json = (v: unknown) => Response.json(v, { headers: { 'X-Nomad-Index': '1' } })
    if (url.pathname === `/v1/job/${job.ID}`) return json(job)
    if (url.pathname === `/v1/job/${tampered.ID}`) return json(tampered)
    if (url.pathname === `/v1/job/${tampered.ID}/allocations`) return json([])
    if (url.pathname === `/v1/job/${job.ID}/allocations`) return json([{ ID: alloc.ID, ModifyIndex: 1 }])
    if (url.pathname === `/v1/allocation/${alloc.ID}`) return json(alloc)
    if (url.pathname === `/v1/client/fs/ls/${alloc.ID}` && url.searchParams.get('path') === 'alloc/nbs')
      return json(Object.entries(files).map(([Name, text]) => ({ ...lsEntry, Name, Size: text.length })))
    if (url.pathname === `/v1/client/fs/cat/${alloc.ID}`) {
      const name = (url.searchParams.get('path') ?? '').replace('alloc/nbs/', '')
      const body = files[name] ?? `stat /var/nomad/alloc/${alloc.ID}/${url.searchParams.get('path')}: no such file or directory`
      return new Response(body, { headers: { 'Content-Type': 'text/plain' } })
    }
    if (url.pathname.startsWith('/v1/client/fs/logs/')) return new Response('', { headers: { 'Content-Type': 'text/plain' } })
    return new Response(`nothing recorded for ${url.pathname}`, { status: 404 })
  },
})
afterAll(() => nomad.stop(true))

const service = new BuildService(new NomadClient({ address: `http://127.0.0.1:${nomad.port}` }), loadConfig({ NBS_PROFILE: 'raw_exec' }))

describe('status over recorded real-Nomad answers', () => {
  test('a succeeded build with no publish.skipped file is SUCCEEDED with its digest', async () => {
    const st = await service.getStatus(id)
    expect(st.failure).toBeUndefined()
    expect(st.status).toBe('SUCCEEDED')
    expect(st.result?.digest).toBe(files.digest!.trim())
    expect(st.result?.images).toEqual(['127.0.0.1:5000/fixtures/hello:success'])
  })

  test('files the listing did not show are never read: a 200 from fs/cat proves nothing', () => {
    expect(requests.filter((r) => r.startsWith('/v1/client/fs/cat/')).map((r) => r.split('?')[1])).not.toContain('alloc/nbs/publish.skipped')
  })

  test('an answer that is not JSON where JSON is expected is an error carrying Nomad\'s words', async () => {
    const text = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response('<html>proxy login</html>', { headers: { 'Content-Type': 'text/html' } }) })
    try {
      const e = await new BuildService(new NomadClient({ address: `http://127.0.0.1:${text.port}` }), loadConfig({})).getStatus(id).catch((x: unknown) => x)
      expect((e as Error).message).toContain('expected JSON, got text/html')
      expect((e as Error).message).toContain('proxy login')
    } finally {
      text.stop(true)
    }
  })

  test('a request in the job Meta that the schema refuses is an error, never a status', async () => {
    const e = (await service.getStatus(tamperedId).catch((x: unknown) => x)) as Error
    expect(e.message).toContain('is not a build request this server accepts')
  })
})
