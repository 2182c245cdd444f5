// A build's logs: the tails its record kept, or its tasks' logs read from the allocation; and the
// live stream of them while the build runs.
import { ServiceError } from '../errors'
import { grepMatcher, type LineMatch, sliceLines } from '../jobs/logs'
import { planTasks } from '../jobs/plan'
import { isFinal, type JobStatus, type Phase } from '../jobs/status-schema'
import type { NomadClient } from '../nomad/client'
import { type BuildReader, type BuildSnapshot, type LiveJob, statusOf } from './build-read'
import type { Caller } from './caller'
import type { LogChunk, LogFollower } from './follow-logs'
import { nomadStream } from './nomad-call'
import type { Logs, LogsQuery, TaskLog } from './schemas'
import { taskLog } from './task-logs'

const TAIL_BYTES = 1 << 20

/** getLogs: a bad grep is the request's fault whatever the build, so it is refused before Nomad is asked. */
export async function readLogs(reader: BuildReader, q: LogsQuery, caller: Caller): Promise<Logs> {
  const match = q.grep === undefined ? undefined : grepMatcher(q.grep)
  return logsOf(reader.nomad, await reader.read(q.id, caller), q, match)
}

/** The logs the query selects, from the same snapshot that gave the status they are returned with. */
export async function logsOf(nomad: NomadClient, snapshot: BuildSnapshot, q: LogsQuery, match?: LineMatch): Promise<Logs> {
  const status = statusOf(snapshot)
  const tail = q.tail ?? 200
  const logs =
    snapshot.kind === 'recorded'
      ? await Promise.all(
          selected(snapshot.record.logs, q).map(async (l) => {
            // A record written while the node did not answer (a lost node's) kept no text; once the
            // node is back, Nomad has the task's log again, with what it did after (publish declining).
            const alloc = snapshot.build?.alloc
            const live = !l.text && alloc ? await taskLog(nomad, alloc.ID, l.task, tail === 0 ? undefined : TAIL_BYTES) : undefined
            return live?.text ? { ...l, ...sliceLines(live.text, tail, live.clipped, match) } : { ...l, ...sliceLines(l.text, tail, l.truncated, match) }
          }),
        )
      : await Promise.all(
          selected(status.tasks, q).map(async (t): Promise<TaskLog> => {
            const raw = await readLog(nomad, snapshot.build, t, tail)
            const { text, truncated } = sliceLines(raw.text, tail, raw.clipped, match)
            return { task: t.task, phase: t.phase, state: t.state, text, truncated, ...(t.exitCode === undefined ? {} : { exitCode: t.exitCode }) }
          }),
        )
  return { id: q.id, status: status.status, ...(status.failure ? { failure: status.failure } : {}), logs }
}

function selected<T extends { task: string; phase?: Phase; state: string }>(tasks: T[], q: LogsQuery): T[] {
  const kept = tasks.filter((t) => (!q.phase || t.phase === q.phase) && (!q.task || t.task === q.task))
  if (q.task && kept.length === 0) throw new ServiceError('not_found', `task: job ${q.id} has no task ${q.task}`, 'task')
  return kept.filter((t) => !q.failedOnly || t.state === 'failed')
}

/** A task that never started wrote nothing: no read, and no error from a node that is gone. */
const readLog = (nomad: NomadClient, build: LiveJob, t: JobStatus['tasks'][number], tail: number) =>
  t.startedAt && build.alloc ? taskLog(nomad, build.alloc.ID, t.task, tail === 0 ? undefined : TAIL_BYTES) : { text: '', clipped: false }

/** Streams the selected tasks' output as it is written, until each has ended and its log is read. */
export async function* followLogs(
  reader: BuildReader,
  follower: LogFollower,
  q: Omit<LogsQuery, 'tail'>,
  caller: Caller,
  signal?: AbortSignal,
): AsyncGenerator<LogChunk> {
  const found = await reader.locate(q.id, caller)
  if (found.kind === 'recorded') {
    for (const l of (await logsOf(reader.nomad, found, { ...q, tail: 0 })).logs) if (l.text) yield { task: l.task, text: l.text }
    return
  }
  const tasks = planTasks(found.build.request)
    .filter((t) => (!q.task || q.task === t.task) && (!q.phase || t.phase === q.phase))
    .map((t) => t.task)
  const target = {
    jobId: found.build.job.ID,
    willNeverStart: async (task: string) => {
      const now = await reader.read(q.id, caller)
      const status = statusOf(now)
      return status.tasks.find((t) => t.task === task)?.state === 'skipped' || (isFinal(status.status) && !now.build?.alloc)
    },
  }
  yield* nomadStream(follower.follow(target, tasks, signal))
}
