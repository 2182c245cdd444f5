// Two nodes: placement as configured, a rebuild on the node whose store is warm, each node's own
// store, and a node that stops answering. A lost node never runs a build twice, never pushes, and
// the status says what happened; a node back within NBS_NODE_LOST_GRACE finishes the build.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { nomadJobId } from '../../src/jobs/ids'
import { cacheKeyOf } from '../../src/jobs/render'
import type { Allocation } from '../../src/nomad/types'
import { type Cluster, clusterSkip, NODE_LOST_GRACE_SECONDS, startCluster } from '../support/cluster'
import { busyboxDockerfile, config, ensureStack, gitRepo, registryDigest, urls } from '../support/dev-stack'
import { eventually } from '../support/eventually'

const image = `${urls.registry}/e2e/cluster`
const token = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`
let c: Cluster

beforeAll(async () => {
  if (clusterSkip) return
  await ensureStack()
  c = await startCluster()
}, 120_000)

afterAll(async () => {
  await c?.stop()
})

const allocs = async (id: string): Promise<Allocation[]> => (await c.nomad.jobs.allocations(nomadJobId(id))).data
const nodeOf = async (id: string) => (await eventually(`build ${id} placed`, async () => (await allocs(id))[0]))
const final = (id: string) => c.service.waitForJob({ id, until: 'final', timeoutSeconds: 120 })
// The step that sleeps has begun: the build opened its store (asking the servers) before it.
const sleeping = (id: string) =>
  eventually(`build ${id} at its last step`, async () => (await c.service.getLogs({ id, task: 'build', tail: 0 })).logs[0]?.text.includes('STEP 4/4: RUN sleep'), 60_000, 100)
/** A build whose node is cut off from the servers in its long step, once Nomad has marked its allocation unknown. */
async function cutOffMidBuild(name: string, step: string, tag: string) {
  const repo = await gitRepo(`cl-${name}-${token}`, { Dockerfile: busyboxDockerfile(step) })
  const { id } = await c.service.submitJob({ repo, image, tags: [tag] })
  await sleeping(id)
  const alloc = await nodeOf(id)
  const cut = Date.now()
  await c.partition(alloc.NodeID)
  await eventually('the allocation unknown', async () => (await allocs(id))[0]?.ClientStatus === 'unknown', 20_000)
  return { id, alloc, cut }
}
const reaches = (id: string, status: string) => eventually(`build ${id} ${status}`, async () => (await c.service.getStatus(id)).status === status, 60_000, 100)

describe.skipIf(!!clusterSkip)(`a two-node cluster${clusterSkip ? ` (skipped: ${clusterSkip})` : ''}`, () => {
  test('spread puts two builds at once on two nodes and binpack on one; each node builds in its own cache volume', async () => {
    const repo = await gitRepo(`cl-place-${token}`, { Dockerfile: busyboxDockerfile('RUN sleep 2') })
    const two = async () => {
      const ids = await Promise.all([0, 1].map(async () => (await c.service.submitJob({ repo, image })).id))
      for (const id of ids) expect((await final(id)).status).toBe('SUCCEEDED')
      return Promise.all(ids.map(nodeOf))
    }
    await c.algorithm('spread')
    const spread = await two()
    expect(new Set(spread.map((a) => a.NodeID)).size).toBe(2)
    for (const a of spread) {
      // The build asked the servers for its node's volume: nomadlite gives each node a directory of its own.
      const name = c.nodes.find((n) => n.id === a.NodeID)!.name
      expect((await c.nomad.fs.cat(a.ID, 'alloc/nbs/store-dir')).trim()).toBe(join(c.cache, name))
      expect(existsSync(join(c.cache, name, 'storage'))).toBe(true)
    }
    await c.algorithm('binpack')
    const packed = await two()
    expect(new Set(packed.map((a) => a.NodeID)).size).toBe(1)
  }, 180_000)

  test('a rebuild lands on the node that last built it, where every step is cached, though another node fits as well', async () => {
    await c.algorithm('spread')
    // A build busy on one node sends the first build to the other one; nomadlite breaks ties by node
    // order, so once both are idle, only the affinity can send the rebuild there again.
    const busy = await c.service.submitJob({ repo: await gitRepo(`cl-busy-${token}`, { Dockerfile: busyboxDockerfile('RUN sleep 60') }), image })
    const busyNode = (await nodeOf(busy.id)).NodeID
    const repo = await gitRepo(`cl-warm-${token}`, { Dockerfile: busyboxDockerfile(`RUN echo ${token} > /made`) })
    const first = await c.service.submitJob({ repo, image })
    expect((await final(first.id)).status).toBe('SUCCEEDED')
    const warm = (await nodeOf(first.id)).NodeID
    expect(warm).not.toBe(busyNode)
    await c.service.killJob(busy.id)
    // At once, as an agent resubmits: Nomad still has the build, and says where it ran.
    const again = await c.service.submitJob({ repo, image })
    expect((await final(again.id)).status).toBe('SUCCEEDED')
    expect((await nodeOf(again.id)).NodeID).toBe(warm)
    // For when Nomad has collected the build: the reconciler notes the node when it records it.
    const key = `${config.recordsPrefix}/warm/${cacheKeyOf({ repo, image }, undefined)}`
    await eventually('the warm node noted', async () => (await c.nomad.variables.get(key))?.Items.node === warm)
    const log = (await c.service.getLogs({ id: again.id, task: 'build', tail: 0 })).logs[0]!.text
    // The node's store has the image of this very commit: it is named again, not built.
    expect(log).toMatch(/reusing image [0-9a-f]{64}: this node built it from the same commit/)
  }, 180_000)

  test('a node that stops answering mid-build: unknown, then FAILED node_lost after the grace; one allocation ever, nothing pushed, also once it is back', async () => {
    const tag = `lost-${token}`
    const { id, alloc, cut } = await cutOffMidBuild('lost', 'RUN sleep 20', tag)
    // Within the grace the build goes on as the node last reported it.
    expect((await c.service.getStatus(id)).status).toBe('BUILDING')
    const st = await final(id)
    expect(Date.now() - cut).toBeGreaterThanOrEqual(NODE_LOST_GRACE_SECONDS * 1000)
    expect(st.status).toBe('FAILED')
    expect(st.failure).toMatchObject({ reason: 'infrastructure', cause: 'node_lost', phase: 'build' })
    expect(st.failure?.message).toContain(`node ${alloc.NodeName} stopped answering at `)
    expect(st.tasks[0]).toMatchObject({ task: 'build', state: 'lost' })
    await eventually('the job stopped by the reconciler', async () => (await c.nomad.jobs.info(nomadJobId(id))).data.Stop)
    expect(await allocs(id)).toHaveLength(1)
    await c.heal(alloc.NodeID)
    // Back, the node learns of the stop; its publish runs and declines. The verdict stays.
    await eventually('the allocation ended on the healed node', async () => ['complete', 'failed'].includes((await allocs(id))[0]?.ClientStatus ?? ''), 60_000)
    expect(await allocs(id)).toHaveLength(1)
    expect((await c.service.getStatus(id)).failure?.cause).toBe('node_lost')
    expect(await registryDigest(image, tag)).toBeUndefined()
  }, 180_000)

  test('a node cut off before publish pushes nothing: its fence cannot reach the servers', async () => {
    const tag = `fenced-${token}`
    const repo = await gitRepo(`cl-fence-${token}`, { Dockerfile: busyboxDockerfile() })
    const { id } = await c.service.submitJob({ repo, image, tags: [tag], test: { commands: ['sleep 4'] } })
    await reaches(id, 'TESTING')
    const alloc = await nodeOf(id)
    await c.partition(alloc.NodeID)
    const st = await final(id)
    expect(st.failure).toMatchObject({ reason: 'infrastructure', cause: 'node_lost' })
    expect(await registryDigest(image, tag)).toBeUndefined()
    await c.heal(alloc.NodeID)
    await eventually('the allocation ended on the healed node', async () => ['complete', 'failed'].includes((await allocs(id))[0]?.ClientStatus ?? ''), 60_000)
    // The test passed while the node was cut off; publish ran then, and declined.
    expect((await c.nomad.fs.cat(alloc.ID, 'alloc/nbs/test-0.exit')).trim()).toBe('0')
    expect(await c.nomad.fs.cat(alloc.ID, 'alloc/nbs/publish.skipped')).toContain('the Nomad servers could not confirm that this build should still run')
    expect(await registryDigest(image, tag)).toBeUndefined()
    expect((await c.service.getStatus(id)).status).toBe('FAILED')
  }, 180_000)

  test('a node back within the grace finishes the build: SUCCEEDED, the digest the registry serves, one allocation', async () => {
    const tag = `back-${token}`
    const { id, alloc } = await cutOffMidBuild('back', 'RUN sleep 8', tag)
    await Bun.sleep(1000)
    await c.heal(alloc.NodeID)
    const st = await final(id)
    expect({ status: st.status, failure: st.failure }).toEqual({ status: 'SUCCEEDED', failure: undefined })
    expect(await registryDigest(image, tag)).toBe(st.result!.digest)
    expect(await allocs(id)).toHaveLength(1)
  }, 180_000)
})
