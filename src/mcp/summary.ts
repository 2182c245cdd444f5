// One-line summaries of a status for MCP's text content (the structured result has the rest).
import type { JobStatus } from '../jobs/status-schema'

export function statusLine(s: JobStatus): string {
  const tasks = s.tasks.map((t) => `${t.task} ${t.state}${t.exitCode === undefined ? '' : ` (exit ${t.exitCode})`}`).join(', ')
  const parts = [`${s.id} ${s.status}`, tasks && `tasks: ${tasks}`]
  if (s.queue) parts.push(`queued since ${s.queue.since}, waiting for ${s.queue.waitingFor}`)
  if (s.failure) parts.push(`failed: ${s.failure.reason}${s.failure.phase ? ` in ${s.failure.phase}` : ''}: ${s.failure.message}`)
  if (s.result) parts.push(`pushed ${s.result.images.join(', ')} digest ${s.result.digest}`)
  return parts.filter(Boolean).join('; ')
}
