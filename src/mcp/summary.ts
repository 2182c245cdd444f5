// MCP's text content: what an agent needs to act, within a bounded size. Many clients hand the
// model only the text, so the cause of a failure (failure.cause, its step, exit code, hint, last
// lines) leads it; structuredContent keeps the whole object.
import { causeLines } from '../jobs/cause'
import { isFinal, type JobStatus } from '../jobs/status-schema'
import type { Logs, TaskLog } from '../service/schemas'

/** Characters of log text in one answer: a few thousand tokens, enough for a failure's cause. */
export const TEXT_BUDGET = 6000

/** The last whole lines of `text` that fit in `max` characters, and how many lines were left out. */
export function lastLines(text: string, max: number): { text: string; omitted: number } {
  const lines = text.replace(/\n$/, '').split('\n')
  if (!text) return { text: '', omitted: 0 }
  if (max < 2) return { text: '', omitted: lines.length }
  let size = 0
  let i = lines.length
  while (i > 0 && size + (lines[i - 1] as string).length + 1 <= max) size += (lines[--i] as string).length + 1
  // One line longer than the budget still shows its end: the cause is usually there.
  if (i === lines.length) return { text: `…${(lines.at(-1) as string).slice(-(max - 1))}`, omitted: lines.length - 1 }
  return { text: lines.slice(i).join('\n'), omitted: i }
}

const taskWords = (t: { task: string; state: string; exitCode?: number }, final: boolean) =>
  `${t.task} ${final && t.state === 'running' ? 'still ending' : t.state}${t.exitCode === undefined ? '' : ` (exit ${t.exitCode})`}`

/** The first lines of every answer about a job: id, status, the failure's cause, step and hint. */
function headline(id: string, status: JobStatus['status'], failure: JobStatus['failure']): string[] {
  if (!failure) return [`job ${id}: ${status}`]
  return [`job ${id}: ${status}, ${failure.reason}${failure.phase ? ` in ${failure.phase}` : ''}: ${failure.summary ?? failure.message}`, ...causeLines(failure)]
}

export function statusText(s: JobStatus): string {
  const lines = headline(s.id, s.status, s.failure)
  if (s.tasks.length) lines.push(`tasks: ${s.tasks.map((t) => taskWords(t, isFinal(s.status))).join(', ')}`)
  if (s.queue) lines.push(`queued since ${s.queue.since}, waiting for ${s.queue.waitingFor}`)
  if (s.result) lines.push(`pushed ${s.result.images.join(', ')}, digest ${s.result.digest}`)
  if (s.failure?.logTail) {
    const tail = lastLines(s.failure.logTail, TEXT_BUDGET)
    lines.push(`last lines of the ${s.failure.phase} log${tail.omitted ? ` (${tail.omitted} earlier lines left out)` : ''}:`, tail.text)
    lines.push(`more: getLogs {"id":"${s.id}","phase":"${s.failure.phase}","tail":0}, or with "grep" to search it`)
  }
  return lines.join('\n')
}

/** waitForJob's answer: the status, and when the job has not ended, how to keep waiting. */
export function waitText(s: JobStatus): string {
  const text = statusText(s)
  if (isFinal(s.status)) return text
  return `${text}\nnot finished yet: call waitForJob {"id":"${s.id}","until":"final"} again to keep waiting`
}

/** getLogs' answer: each task's last lines, the budget shared out so a short log is never cut for a long one. */
export function logsText(l: Logs, grep?: string): string {
  const lines = headline(l.id, l.status, l.failure)
  if (!l.logs.length) return [...lines, 'no task matches the selection (phase, task, failedOnly)'].join('\n')
  const shares = share(l.logs)
  let omitted = 0
  for (const t of l.logs) {
    const tail = lastLines(t.text, shares.get(t) ?? 0)
    omitted += tail.omitted
    const what = grep ? `, lines matching ${JSON.stringify(grep)}` : ''
    lines.push(`=== ${taskWords(t, isFinal(l.status))}${what}${t.truncated || tail.omitted ? ', earlier lines left out' : ''}`)
    lines.push(tail.text || '(no output)')
  }
  if (omitted) lines.push(`(${omitted} more lines are in structuredContent; narrow with task, tail or grep)`)
  return lines.join('\n')
}

/** Each task's characters of the budget: the shortest logs take what they need, the rest split what is left. */
function share(logs: TaskLog[]): Map<TaskLog, number> {
  const out = new Map<TaskLog, number>()
  let left = TEXT_BUDGET
  const bySize = [...logs].sort((a, b) => a.text.length - b.text.length)
  bySize.forEach((t, i) => {
    const fair = Math.floor(left / (bySize.length - i))
    const size = Math.min(t.text.length + 1, fair)
    out.set(t, size)
    left -= size
  })
  return out
}
