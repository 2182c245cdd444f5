// How the CLI shows a status to a person; --json prints the object instead.
import { isFinal, type JobStatus } from '../jobs/status-schema'
import { causeLines } from '../jobs/cause'
import type { JobSummary } from '../service/schemas'

export function statusText(s: JobStatus): string {
  const lines = [`job ${s.id}: ${s.status}`]
  for (const t of s.tasks) {
    const exit = t.exitCode === undefined ? '' : ` (exit ${t.exitCode})`
    // A job that has ended may still be ending a task (publish declining): it runs no more work.
    const state = isFinal(s.status) && t.state === 'running' ? 'still ending' : t.state
    lines.push(`  ${t.task.padEnd(9)} ${state}${exit}${t.command ? `  ${t.command}` : ''}`)
  }
  if (s.queue) lines.push(`queued since ${s.queue.since}, waiting for ${s.queue.waitingFor}`)
  if (s.failure) {
    lines.push(`failed: ${s.failure.reason}${s.failure.phase ? ` in ${s.failure.phase}` : ''}: ${s.failure.summary ?? s.failure.message}`)
    lines.push(...causeLines(s.failure).map((l) => `  ${l}`))
    if (s.failure.logTail) lines.push('--- last lines of the log ---', s.failure.logTail.trimEnd())
  }
  if (s.result) {
    for (const image of s.result.images) lines.push(`published ${image}`)
    lines.push(`digest ${s.result.digest}`)
  }
  return lines.join('\n')
}

/** `nbs list`: one row per job under a header; the reason column only says something for FAILED jobs. */
export function jobTable(jobs: JobSummary[]): string {
  if (!jobs.length) return 'no jobs'
  const header = ['ID', 'STATUS', 'REASON', 'CREATED', 'IMAGE']
  const rows = [header, ...jobs.map((j) => [j.id, j.status, j.reason ?? '-', j.createdAt.replace(/\.\d+Z$/, 'Z'), j.image])]
  const widths = header.map((_, i) => Math.max(...rows.map((r) => (r[i] as string).length)))
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] as number))).join('  ')).join('\n')
}

/**
 * Interleaved output of parallel tasks as whole lines, each prefixed with its task: a chunk may end
 * mid-line, and its rest arrives later, perhaps after another task's lines.
 */
export class TaskLines {
  private readonly partial = new Map<string, string>()

  /** The lines this chunk completes, prefixed; an unfinished last line waits for its end. */
  push(task: string, text: string): string {
    const lines = ((this.partial.get(task) ?? '') + text).split('\n')
    this.partial.set(task, lines.pop() as string)
    return lines.map((l) => prefixed(task, l)).join('')
  }

  /** What is left when the streams end: last lines without a newline. */
  flush(): string {
    const rest = [...this.partial].filter(([, l]) => l).map(([task, l]) => prefixed(task, l))
    this.partial.clear()
    return rest.join('')
  }
}

// "publish" and "test-10" are the longest usual task names: the columns line up.
const prefixed = (task: string, line: string) => `${task.padEnd(7)} | ${line}\n`
