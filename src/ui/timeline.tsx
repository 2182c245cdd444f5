// Where a build spent its time: one bar per task on a shared axis from submission, growing while the task runs.
import type { JobStatus, TaskRun } from '../jobs/status-schema'
import { duration } from './format'

export function Timeline({ job, now }: { job: JobStatus; now: number }) {
  const start = Date.parse(job.createdAt)
  const endOf = (t: TaskRun) => (t.finishedAt ? Date.parse(t.finishedAt) : now)
  const ran = job.tasks.filter((t) => t.startedAt)
  const end = Math.max(job.finishedAt ? Date.parse(job.finishedAt) : now, ...ran.map(endOf), start + 1000)
  const span = end - start
  // Until the first task started: time spent waiting for a node.
  const queued = (ran.length ? Math.min(...ran.map((t) => Date.parse(t.startedAt as string))) : end) - start
  const pct = (ms: number) => `${((100 * ms) / span).toFixed(2)}%`
  return (
    <figure class="timeline" aria-label="Timeline of the build's tasks">
      <ol>
        {job.tasks.map((t) => {
          const from = t.startedAt ? Date.parse(t.startedAt) - start : 0
          const took = t.startedAt ? endOf(t) - Date.parse(t.startedAt) : 0
          return (
            <li key={t.task} data-task={t.task} data-state={t.state}>
              <span class="task" title={t.command}>
                {t.task}
              </span>
              <span class="track">
                {t.startedAt ? (
                  <span
                    class={`span t-${t.state}`}
                    style={{ left: pct(from), width: pct(Math.max(took, span / 200)) }}
                    title={`${t.task} ${t.state}: ${duration(took)}`}
                  />
                ) : (
                  <span class="muted not-run">{t.state}</span>
                )}
              </span>
              <span class="took">{t.startedAt ? duration(took) : ''}</span>
            </li>
          )
        })}
      </ol>
      <figcaption>
        <span>0 s</span>
        {queued >= 1000 && <span>queued {duration(queued)}</span>}
        <span>{duration(span)}</span>
      </figcaption>
    </figure>
  )
}
