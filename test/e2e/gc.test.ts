// Results outlive Nomad's garbage collection: on an agent that keeps only 2 finished allocation
// directories (Nomad's client gc_max_allocs; nomadlite takes the same setting), a build read after
// 5 more builds, and again after the job GC, still answers SUCCEEDED with its digest and log tail.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../src/config'
import { cacheWritableByBuilder } from '../../src/dev/docker'
import { nomadDaemon } from '../../src/dev/nomad-agent'
import { startDaemon, stopDaemon, waitFor } from '../../src/dev/process'
import { nomadJobId } from '../../src/jobs/ids'
import { NomadClient } from '../../src/nomad/client'
import { BuildService } from '../../src/service/build-service'
import { runReconciler } from '../../src/service/reconciler'
import { ensureStack, registryDigest, serviceEnv, stack, urls } from '../support/dev-stack'
import { eventually } from '../support/eventually'

const state = mkdtempSync(join(tmpdir(), 'nbs-gc-'))
const paths = { ...stack.paths, state, cache: join(state, 'cache'), logs: state }
// A port of its own beside the stack's agent (with rpc and serf above it, for a real Nomad).
const port = stack.ports.nomad + 1000
const nomad = new NomadClient({ address: `http://127.0.0.1:${port}` })
const service = new BuildService(nomad, loadConfig({ ...process.env, ...serviceEnv, NBS_NOMAD_ADDR: `http://127.0.0.1:${port}` }))
const life = new AbortController()

beforeAll(async () => {
  await ensureStack()
  const agent = await nomadDaemon(paths, { ...stack.ports, nomad: port }, () => {}, stack.docker?.host, process.env, 2)
  // In the docker profile its tasks run on the stack's engine, as the builder image's user.
  if (stack.docker) cacheWritableByBuilder(paths)
  startDaemon(state, state, { ...agent, name: 'gc-agent' })
  await waitFor('the gc test agent', async () => ((await nomad.status.leader()) ? (await nomad.nodes.list()).data.some((n) => n.Status === 'ready') : false), 60_000, join(state, 'gc-agent.log'))
  void runReconciler(service, nomad, life.signal, () => {})
}, 180_000)

afterAll(async () => {
  life.abort()
  await stopDaemon(state, 'gc-agent')
})

const image = `${urls.registry}/e2e/gc`

async function succeeded(tag?: string): Promise<string> {
  const { id } = await service.submitJob({ repo: `${urls.git}/hello-world`, image, ...(tag ? { tags: [tag] } : {}), test: { commands: ['echo tested-$((6*7))'] } })
  const st = await service.waitForJob({ id, until: 'final', timeoutSeconds: 180 })
  expect(st.status).toBe('SUCCEEDED')
  return id
}

describe("after Nomad's garbage collection", () => {
  test('a build still reads SUCCEEDED with its digest and the tail of its logs, from its record', async () => {
    const tag = `gc-${Date.now()}`
    const first = await succeeded(tag)
    const before = await service.getStatus(first)
    for (let i = 0; i < 5; i++) await succeeded()

    // The client has removed the first build's alloc dir: its results can no longer be read there.
    const alloc = (await nomad.jobs.allocations(nomadJobId(first))).data[0]!
    expect(await nomad.fs.ls(alloc.ID, 'alloc/nbs')).toBeNull()
    const after = await service.getStatus(first)
    expect(after).toEqual(before)
    expect(after.result?.digest).toBe((await registryDigest(image, tag))!)
    expect((await service.getLogs({ id: first, task: 'test-0' })).logs[0]?.text).toContain('tested-42')

    // The job GC (nomad system gc) takes the job itself.
    await nomad.raw('PUT', '/v1/system/gc')
    await eventually('the job GC', () => nomad.jobs.info(nomadJobId(first)).then(() => false, () => true), 30_000, 500)
    expect(await service.getStatus(first)).toEqual(before)
  }, 600_000)
})
