// The server's one background loop. It stops builds that Nomad would keep waiting for ever (a
// placement no node can ever satisfy, a secret that does not exist), so that reads never have to
// change state, and it keeps a record of each finished build (src/service/records.ts). Every
// replica runs it; each pass is idempotent.
import type { NomadClient } from '../nomad/client'
import type { BuildService } from './build-service'

// Expired uploads leave the spool this often: a minute late costs only disk.
const EVICT_PERIOD_MS = 60_000
// A blocking query wakes the loop on any allocation change; the bound catches evaluations,
// which move no allocation (a job that can never be placed has none).
const WAIT = '3s'
// However fast allocations change, a pass at most this often.
const MIN_PERIOD_MS = 250

export async function runReconciler(
  service: Pick<BuildService, 'stopStuckJobs' | 'recordFinishedJobs' | 'evictSources'>,
  nomad: NomadClient,
  signal: AbortSignal,
  log: (line: string) => void = console.error,
): Promise<void> {
  let index = 0
  // A job the pass cannot handle is said once, not every pass, and again only if it recovers and fails anew.
  let told = new Set<string>()
  let evicted = 0
  while (!signal.aborted) {
    const began = Date.now()
    try {
      if (began - evicted >= EVICT_PERIOD_MS) {
        await service.evictSources()
        evicted = began
      }
      const stopped = await service.stopStuckJobs()
      for (const id of stopped.done) log(`nbs: reconciler: stopped job ${id}: it would wait for ever, or its node stopped answering (see its status)`)
      const failed = [...stopped.failed, ...(await service.recordFinishedJobs()).failed]
      const now = new Set(failed.map((f) => `${f.job}: ${f.message}`))
      for (const line of now) if (!told.has(line)) log(`nbs: reconciler: skipping ${line}`)
      told = now
      index = (await nomad.allocations.list({ waitIndex: index, waitTime: WAIT, signal })).meta.lastIndex
      await Bun.sleep(Math.max(0, MIN_PERIOD_MS - (Date.now() - began)))
    } catch (e) {
      if (signal.aborted) return
      log(`nbs: reconciler: ${e instanceof Error ? e.message : String(e)}; retrying`)
      await Bun.sleep(3000)
      index = 0
    }
  }
}
