// A burst of builds on a busy node: Nomad queues what does not fit yet (conformance: busy-node),
// and the service says so instead of failing them.
import { beforeAll, describe, expect, test } from 'bun:test'
import type { JobStatus } from '../../src/jobs/status-schema'
import { ensureStack, nomad, service, urls } from '../support/dev-stack'
import { eventually } from '../support/eventually'

beforeAll(ensureStack, 180_000)

describe('a burst of builds', () => {
  test('40 at once: all accepted, some wait PENDING with their queue reason, all SUCCEEDED, none lost', async () => {
    // Each build asks a sixth of the node's memory, so that at most six run at once, whatever the host.
    const node = (await nomad.nodes.list()).data.find((n) => n.Status === 'ready')!
    const memory = Math.floor((node.NodeResources!.Memory!.MemoryMB! - (node.ReservedResources?.Memory?.MemoryMB ?? 0)) / 6)
    const request = { repo: `${urls.git}/hello-world`, image: `${urls.registry}/e2e/queue`, resources: { memory }, test: { commands: ['sleep 1'] } }
    const subs = await Promise.all(Array.from({ length: 40 }, () => service.submitJob(request)))
    expect(new Set(subs.map((s) => s.id)).size).toBe(40)

    const queued: JobStatus[] = await eventually(
      'a build PENDING with its queue',
      async () => {
        const now = (await Promise.all(subs.map((s) => service.getStatus(s.id)))).filter((s) => s.status === 'PENDING' && s.queue)
        return now.length > 0 && now
      },
      20_000,
      500,
    )
    expect(queued[0]!.queue!.waitingFor).toContain(`memory (${memory} MB at once)`)
    expect(queued[0]!.queue!.nodePool).toBe('default')

    const final = await Promise.all(subs.map((s) => service.waitForJob({ id: s.id, until: 'final', timeoutSeconds: 900 })))
    const outcome = final.map((s) => `${s.status}${s.failure ? `: ${s.failure.message}` : ''}`)
    expect(outcome).toEqual(final.map(() => 'SUCCEEDED'))
  }, 960_000)
})
