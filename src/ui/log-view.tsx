// One task's log at a time, with a filter box; the failing step's lines (or a failed test's own output) highlighted.
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks'
import type { JobStatus } from '../service/schemas'
import { failingStepLines } from './build-log'
import type { FailureView } from './failure'

// The phase scripts' own lines (jobspecs/tasks/): a failed test's output is everything else.
const NBS_LINE = /^==> nbs: /

/** The failed task, else the newest one running, else the build: what someone opening the page wants to read. */
function activeTask(job: JobStatus): string {
  const failed = job.tasks.find((t) => t.state === 'failed') ?? job.tasks.find((t) => t.state === 'killed' && t.startedAt)
  if (failed) return failed.task
  const running = job.tasks.filter((t) => t.state === 'running').at(-1)
  return running?.task ?? 'build'
}

function highlighted(job: JobStatus, task: string, lines: string[]): (i: number) => boolean {
  const failure = job.failure as FailureView | undefined
  const state = job.tasks.find((t) => t.task === task)?.state
  if (!failure || state !== 'failed') return () => false
  if (task === 'build') {
    const step = failingStepLines(lines, failure.step)
    return step ? (i) => i >= step.from && i < step.to : () => false
  }
  return (i) => !NBS_LINE.test(lines[i] ?? '')
}

export function LogView({ job, texts, live }: { job: JobStatus; texts: Record<string, string>; live: boolean }) {
  const [chosen, setChosen] = useState<string>()
  const [filter, setFilter] = useState('')
  const pre = useRef<HTMLPreElement>(null)
  const task = chosen ?? activeTask(job)
  const lines = (texts[task] ?? '').replace(/\n$/, '').split('\n')
  const hot = highlighted(job, task, lines)
  const needle = filter.trim().toLowerCase()
  const shown = lines.map((text, i) => ({ text, i })).filter((l) => !needle || l.text.toLowerCase().includes(needle))

  // While it runs, stay at the end unless the reader scrolled up to look at something.
  const atEnd = useRef(true)
  useLayoutEffect(() => {
    const el = pre.current
    if (el && live && atEnd.current) el.scrollTop = el.scrollHeight
  })
  // A failed build opens at the failing lines.
  const shownFailure = useRef('')
  useEffect(() => {
    const first = pre.current?.querySelector<HTMLElement>('.hot')
    if (first && shownFailure.current !== task) {
      shownFailure.current = task
      const el = pre.current as HTMLPreElement
      el.scrollTop = first.offsetTop - el.offsetTop - 24
    }
  })

  return (
    <section class="logs" aria-labelledby="logs-title">
      <div class="bar">
        <h2 id="logs-title">Logs</h2>
        <div role="group" aria-label="Task" class="tabs">
          {job.tasks.map((t) => (
            <button
              key={t.task}
              type="button"
              aria-pressed={t.task === task}
              class={`tab t-${t.state}`}
              onClick={() => setChosen(t.task)}
            >
              {t.task}
            </button>
          ))}
        </div>
        <input
          type="search"
          placeholder="Filter lines"
          aria-label="Filter log lines"
          value={filter}
          onInput={(e) => setFilter(e.currentTarget.value)}
        />
      </div>
      <pre
        ref={pre}
        class="log"
        tabIndex={0}
        aria-label={`Log of ${task}`}
        data-task={task}
        onScroll={(e) => {
          const el = e.currentTarget
          atEnd.current = el.scrollHeight - el.scrollTop - el.clientHeight < 32
        }}
      >
        {shown.map((l) => (
          <span key={l.i} class={hot(l.i) ? 'line hot' : 'line'}>
            {l.text}
          </span>
        ))}
      </pre>
      <p class="muted small">
        {needle ? `${shown.length} of ${lines.length} lines match` : `${lines.length} lines`}
        {live ? ' · following' : ''}
      </p>
    </section>
  )
}
