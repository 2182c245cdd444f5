// /ui/jobs/{id}: one build — its request, status and failure, a timeline of its tasks, live logs, the digest, Kill.
import { useEffect, useRef, useState } from 'preact/hooks'
import type { JobStatus } from '../service/schemas'
import { ApiError, followLogs, getJob, getLogs, killJob, waitJob } from './api'
import { cacheHits } from './build-log'
import { Breakable, ErrorNote, StatusBadge, isRunning } from './common'
import { FailureBox } from './failure'
import { duration, elapsed, localTime, origin } from './format'
import { useNow } from './hooks'
import { LogView } from './log-view'
import { Timeline } from './timeline'

// A wait answers at once on a status change; in between, this often, so that each task's bar and state keep up.
const WAIT_SECONDS = 5
const RETRY_MS = 2000

/** Over: a final status and no task still running (publish, a poststop task, may run after FAILED is known). */
const settled = (s: JobStatus) => !isRunning(s.status) && s.tasks.every((t) => t.state !== 'running')

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** The status, then each change through the wait endpoint until the build is over. */
function useJob(id: string) {
  const [job, setJob] = useState<JobStatus>()
  const [error, setError] = useState<unknown>()
  useEffect(() => {
    const stop = new AbortController()
    ;(async () => {
      let current: JobStatus | undefined
      while (!stop.signal.aborted && !(current && settled(current))) {
        try {
          current = current ? await waitJob(id, WAIT_SECONDS, stop.signal) : await getJob(id)
          if (!stop.signal.aborted) setJob(current)
          setError(undefined)
        } catch (e) {
          if (stop.signal.aborted) return
          setError(e)
          if (e instanceof ApiError && (e.status === 401 || e.status === 404)) return
          await sleep(RETRY_MS)
        }
      }
    })()
    return () => stop.abort()
  }, [id])
  return { job, setJob, error }
}

/** Every task's log: followed live (SSE) when the build is still going at first sight, else read once. */
function useLogs(id: string, job: JobStatus | undefined, setJob: (s: JobStatus) => void) {
  const [texts, setTexts] = useState<Record<string, string>>({})
  const [live, setLive] = useState(false)
  const [error, setError] = useState<unknown>()
  const started = useRef(false)
  useEffect(() => {
    if (!job || started.current) return
    started.current = true
    const stop = new AbortController()
    const readAll = async () => {
      const logs = await getLogs(id)
      if (!stop.signal.aborted) setTexts(Object.fromEntries(logs.logs.map((l) => [l.task, l.text])))
    }
    ;(async () => {
      if (isRunning(job.status)) {
        setLive(true)
        try {
          await followLogs(
            id,
            {
              log: (task, text) => setTexts((t) => ({ ...t, [task]: (t[task] ?? '') + text })),
              end: (status) => setJob(status),
            },
            stop.signal,
          )
          return
        } catch {
          // The stream broke off (a proxy, a restarted server): read what there is once the build is over.
          if (stop.signal.aborted) return
        } finally {
          setLive(false)
        }
      }
      await readAll()
    })().catch((e) => !stop.signal.aborted && setError(e))
    return () => stop.abort()
  }, [id, job === undefined])
  return { texts, live, error }
}

export function JobPage({ id }: { id: string }) {
  const { job, setJob, error } = useJob(id)
  const logs = useLogs(id, job, setJob)
  const now = useNow(500, !!job && !settled(job))
  useEffect(() => {
    document.title = job ? `${job.status} · ${id} · Nomad Build Service` : `${id} · Nomad Build Service`
  }, [job?.status])
  if (!job)
    return (
      <section>
        <h1 class="mono">{id}</h1>
        {error ? <ErrorNote error={error} /> : <p class="muted">Loading…</p>}
      </section>
    )
  const build = logs.texts.build
  const cache = build ? cacheHits(build) : undefined
  return (
    <article aria-labelledby="job-title" data-status={job.status}>
      <p class="crumbs">
        <a href="/ui">← Builds</a>
      </p>
      <div class="bar">
        <h1 id="job-title" class="mono">
          {job.id}
        </h1>
        <StatusBadge status={job.status} />
        <span class="muted" data-duration>
          {duration(elapsed(job, now))}
        </span>
        <KillButton job={job} onKilled={setJob} />
      </div>
      <ErrorNote error={error} />
      {job.queue && (
        <p class="queue" role="status">
          Queued in pool {job.queue.nodePool}: waiting for {job.queue.waitingFor}
        </p>
      )}
      {job.failure && <FailureBox failure={job.failure} />}
      {job.result && (
        <section class="result" aria-labelledby="result-title">
          <h2 id="result-title">Published</h2>
          <p>
            <code class="digest">{job.result.digest}</code> <CopyButton text={job.result.digest} label="Copy digest" />
          </p>
          <ul class="refs">
            {job.result.images.map((ref) => (
              <li key={ref}>
                <code>{ref}</code>
              </li>
            ))}
          </ul>
        </section>
      )}
      <div class="columns">
        <section aria-labelledby="timeline-title">
          <h2 id="timeline-title">Timeline</h2>
          <Timeline job={job} now={now} />
          {cache?.reused && (
            <p class="muted small" data-cache>
              Image reused: this node built the same source with the same settings (<code>{cache.reused.slice(0, 12)}</code>); Buildah did not run
            </p>
          )}
          {cache && !cache.reused && cache.steps > 0 && (
            <p class="muted small" data-cache>
              Layer cache: {cache.cached} of {cache.steps} steps reused
            </p>
          )}
        </section>
        <RequestSummary job={job} />
      </div>
      <ErrorNote error={logs.error} />
      <LogView job={job} texts={logs.texts} live={logs.live} />
    </article>
  )
}

function RequestSummary({ job }: { job: JobStatus }) {
  const r = job.request
  const commands = r.test?.commands ?? []
  return (
    <section aria-labelledby="request-title">
      <h2 id="request-title">Request</h2>
      <dl class="request">
        <dt>Source</dt>
        <dd class="mono wrap">
          <Breakable text={origin(r)} />
        </dd>
        {job.result?.commit && (
          <>
            <dt>Commit</dt>
            <dd class="mono">{job.result.commit.slice(0, 12)}</dd>
          </>
        )}
        {(r.context || r.dockerfile || r.target) && (
          <>
            <dt>Dockerfile</dt>
            <dd class="mono wrap">
              {[r.context, r.dockerfile ?? 'Dockerfile'].filter(Boolean).join('/')}
              {r.target ? ` (target ${r.target})` : ''}
            </dd>
          </>
        )}
        <dt>Image</dt>
        <dd class="mono wrap">
          <Breakable text={`${r.image}:${(r.tags ?? [job.id]).join(', ')}`} />
        </dd>
        <dt>Tests</dt>
        <dd>
          {commands.length === 0 && !r.test?.entrypoint ? (
            'none'
          ) : (
            <ul class="mono">
              {commands.map((c, i) => (
                <li key={i}>{typeof c === 'string' ? c : JSON.stringify(c)}</li>
              ))}
              {r.test?.entrypoint && <li>the image's entrypoint</li>}
            </ul>
          )}
        </dd>
        <dt>Submitted</dt>
        <dd>{localTime(job.createdAt)}</dd>
      </dl>
    </section>
  )
}

function CopyButton({ text, label }: { text: string; label: string }) {
  const [done, setDone] = useState(false)
  return (
    <button
      type="button"
      onClick={async () => {
        await navigator.clipboard.writeText(text)
        setDone(true)
      }}
    >
      {done ? 'Copied' : label}
    </button>
  )
}

/** Asks first; refused while publishing, as the API refuses it then (409: a push is not cut short). */
function KillButton({ job, onKilled }: { job: JobStatus; onKilled: (s: JobStatus) => void }) {
  const dialog = useRef<HTMLDialogElement>(null)
  const [error, setError] = useState<unknown>()
  if (!isRunning(job.status)) return null
  const publishing = job.status === 'PUBLISHING'
  const kill = async () => {
    dialog.current?.close()
    try {
      onKilled(await killJob(job.id))
    } catch (e) {
      setError(e)
    }
  }
  return (
    <>
      <button
        type="button"
        class="danger"
        disabled={publishing}
        title={publishing ? 'A push in progress is not cut short' : 'Stop this build; nothing is published'}
        onClick={() => dialog.current?.showModal()}
      >
        Kill
      </button>
      <dialog ref={dialog} aria-labelledby="kill-title">
        <form method="dialog">
          <h2 id="kill-title">Kill {job.id}?</h2>
          <p>The build stops and nothing is published.</p>
          <div class="actions">
            <button type="button" class="danger" onClick={kill}>
              Kill the build
            </button>
            <button value="cancel" autofocus>
              Cancel
            </button>
          </div>
        </form>
      </dialog>
      <ErrorNote error={error} />
    </>
  )
}
