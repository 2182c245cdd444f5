// The reconciler's loop with a service that plays its passes: a job it cannot handle is said once,
// not every pass, and the other jobs' work goes on.
import { describe, expect, test } from 'bun:test'
import type { NomadClient } from '../../src/nomad/client'
import type { PassResult } from '../../src/service/build-service'
import { runReconciler } from '../../src/service/reconciler'
import { eventually } from '../support/eventually'

describe('the reconciler', () => {
  test('a job it cannot handle is said once while it keeps failing, and again when it fails anew; the rest goes on', async () => {
    let pass = 0
    let evictions = 0
    const recordedPasses: number[] = []
    const failing = (n: number) => n <= 3 || n >= 6
    const service = {
      stopStuckJobs: async (): Promise<PassResult> => {
        pass++
        return { done: [], failed: failing(pass) ? [{ job: 'nbs-foreign', message: 'its Meta is not a build request' }] : [] }
      },
      recordFinishedJobs: async (): Promise<PassResult> => {
        recordedPasses.push(pass)
        return { done: [], failed: [] }
      },
      evictSources: async () => {
        evictions++
        return 0
      },
    }
    // Allocations change at once: each pass follows the last after the loop's shortest period.
    const nomad = { allocations: { list: async () => ({ data: [], meta: { lastIndex: pass } }) } } as unknown as NomadClient
    const life = new AbortController()
    const said: string[] = []
    const loop = runReconciler(service, nomad, life.signal, (l) => said.push(l))
    await eventually('seven reconciler passes', async () => pass >= 7, 20_000, 50)
    life.abort()
    await loop
    expect(said.filter((l) => l === 'nbs: reconciler: skipping nbs-foreign: its Meta is not a build request')).toHaveLength(2)
    expect(recordedPasses.slice(0, 7)).toEqual([1, 2, 3, 4, 5, 6, 7])
    // The spool is swept on the first pass, then once a minute, not on every pass.
    expect(evictions).toBe(1)
  })
})
