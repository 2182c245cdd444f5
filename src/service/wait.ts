// waitForJob's loop, one for both of its homes: the service waits on Nomad's blocking queries, the
// HTTP client on the server's own /wait. Each step waits at most a few seconds, so that a caller
// who asked for progress hears from it at least that often.
import { isFinal, type JobStatus } from '../jobs/status-schema'
import { WAIT_SECONDS, type WaitQuery } from './schemas'

/** Final, and Nomad has finished too: a failure is known before publish has declined, and a kill before poststop ran. */
export const settled = (s: JobStatus) => isFinal(s.status) && (s.finishedAt !== undefined || !s.tasks.some((t) => t.startedAt))

// How long a final status waits for Nomad to end the tasks still running: publish declining after a
// failure took under 1.4 s in every recorded case (test/fixtures/buildah-1.28) but one whose push
// had been retrying, 13 s; a display that says "running" for a job that has ended misleads.
export const SETTLE_SECONDS = 10

/**
 * Returns once the status has changed (until "change") or settled, or the time is up. A status that
 * became final is held until every task has ended, for SETTLE_SECONDS at most. `step(seconds)`
 * waits at most that long for something to happen and returns the status then.
 */
export async function waitLoop(
  q: WaitQuery,
  first: JobStatus,
  step: (seconds: number) => Promise<JobStatus>,
  signal?: AbortSignal,
  onProgress?: (status: JobStatus) => Promise<void> | void,
): Promise<JobStatus> {
  const deadline = Date.now() + (q.timeoutSeconds ?? WAIT_SECONDS.default) * 1000
  const start = first.status
  let status = first
  let settleBy = Number.POSITIVE_INFINITY
  for (;;) {
    if (settled(status)) return status
    const final = isFinal(status.status)
    if (!final && (q.until ?? 'change') === 'change' && status.status !== start) return status
    if (final) settleBy = Math.min(settleBy, Date.now() + SETTLE_SECONDS * 1000)
    const left = Math.min(deadline, settleBy) - Date.now()
    if (left <= 0 || signal?.aborted) return status
    await onProgress?.(status)
    status = await step(Math.max(1, Math.min(5, Math.ceil(left / 1000))))
  }
}
