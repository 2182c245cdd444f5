// How the CLI shows a status to a person; --json prints the object instead.
import type { JobStatus } from '../jobs/status-schema'

export function statusText(s: JobStatus): string {
  const lines = [`job ${s.id}: ${s.status}`]
  for (const t of s.tasks) {
    const exit = t.exitCode === undefined ? '' : ` (exit ${t.exitCode})`
    lines.push(`  ${t.task.padEnd(9)} ${t.state}${exit}${t.command ? `  ${t.command}` : ''}`)
  }
  if (s.queue) lines.push(`queued since ${s.queue.since}, waiting for ${s.queue.waitingFor}`)
  if (s.failure) {
    lines.push(`failed: ${s.failure.reason}${s.failure.phase ? ` in ${s.failure.phase}` : ''}: ${s.failure.message}`)
    if (s.failure.logTail) lines.push('--- last lines of the log ---', s.failure.logTail.trimEnd())
  }
  if (s.result) {
    for (const image of s.result.images) lines.push(`published ${image}`)
    lines.push(`digest ${s.result.digest}`)
  }
  return lines.join('\n')
}
