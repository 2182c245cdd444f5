// /ui: the builds, newest first, filtered by status, reloaded every few seconds so new builds appear by themselves.
import { useState } from 'preact/hooks'
import type { JobState, JobSummary } from '../service/schemas'
import { listJobs } from './api'
import { Breakable, ErrorNote, STATES, StatusBadge, isRunning } from './common'
import { ago, duration, elapsed, localTime, origin } from './format'
import { useNow, usePoll } from './hooks'

/** How long the list rests between reloads: short enough that a submitted build shows up while you look. */
export const LIST_PAUSE_MS = 2000

const statusFromUrl = () => {
  const s = new URLSearchParams(location.search).get('status')
  return STATES.find((x) => x === s)
}

export function ListPage() {
  const [status, setStatus] = useState<JobState | undefined>(statusFromUrl())
  const { data, error } = usePoll(() => listJobs(status), LIST_PAUSE_MS, [status])
  const now = useNow(1000)
  const choose = (value: string) => {
    const s = STATES.find((x) => x === value)
    setStatus(s)
    // In the URL, so that a filtered list can be linked to and survives a reload.
    history.replaceState(null, '', s ? `?status=${s}` : location.pathname)
  }
  const jobs = data?.jobs
  const owners = jobs?.some((j) => j.owner)
  return (
    <section aria-labelledby="builds-title">
      <div class="bar">
        <h1 id="builds-title">Builds</h1>
        <label>
          Status{' '}
          <select value={status ?? ''} onChange={(e) => choose(e.currentTarget.value)}>
            <option value="">all</option>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {s.toLowerCase()}
              </option>
            ))}
          </select>
        </label>
      </div>
      <ErrorNote error={error} />
      {jobs && jobs.length === 0 && <p class="muted">No builds{status ? ` with status ${status}` : ''} yet.</p>}
      {jobs && jobs.length > 0 && (
        <table class="jobs">
          <thead>
            <tr>
              <th scope="col">Status</th>
              <th scope="col">Build</th>
              <th scope="col">Image</th>
              <th scope="col">Source</th>
              {owners && <th scope="col">Owner</th>}
              <th scope="col">Submitted</th>
              <th scope="col">Duration</th>
            </tr>
          </thead>
          <tbody>
            {jobs.map((j) => (
              <JobRow key={j.id} job={j} now={now} owners={!!owners} />
            ))}
          </tbody>
        </table>
      )}
    </section>
  )
}

function JobRow({ job, now, owners }: { job: JobSummary; now: number; owners: boolean }) {
  return (
    <tr data-job={job.id} data-status={job.status}>
      <td data-label="Status">
        <StatusBadge status={job.status} />
        {job.reason && <span class="reason">{job.reason}</span>}
        {job.queue && <div class="queue">waiting for {job.queue.waitingFor}</div>}
      </td>
      <td data-label="Build">
        <a href={`/ui/jobs/${encodeURIComponent(job.id)}`} class="mono">
          {job.id}
        </a>
      </td>
      <td data-label="Image" class="mono wrap">
        <Breakable text={job.image} />
        {job.tags && <span class="muted">:{job.tags.join(', ')}</span>}
      </td>
      <td data-label="Source" class="mono wrap">
        <Breakable text={origin(job)} />
      </td>
      {owners && <td data-label="Owner">{job.owner ?? ''}</td>}
      <td data-label="Submitted">
        <time dateTime={job.createdAt} title={localTime(job.createdAt)}>
          {ago(job.createdAt, now)}
        </time>
      </td>
      <td data-label="Duration" class={isRunning(job.status) ? 'live' : ''}>
        {duration(elapsed(job, now))}
      </td>
    </tr>
  )
}
