// Pieces every page uses: the status badge and how a failed request is said.
import { Fragment } from 'preact'
import type { JobState } from '../service/schemas'
import { ApiError, isUnauthorized } from './api'

export const STATES: JobState[] = ['PENDING', 'BUILDING', 'TESTING', 'PUBLISHING', 'SUCCEEDED', 'FAILED']

export const isRunning = (s: JobState) => s !== 'SUCCEEDED' && s !== 'FAILED'

/** A URL or image reference that may wrap after its slashes and colons rather than in the middle of a name. */
export function Breakable({ text }: { text: string }) {
  return (
    <>
      {text.split(/(?<=[/:@])/).map((part, i) => (
        <Fragment key={i}>
          {i > 0 && <wbr />}
          {part}
        </Fragment>
      ))}
    </>
  )
}

export function StatusBadge({ status }: { status: JobState }) {
  return <span class={`badge s-${status.toLowerCase()}`}>{status}</span>
}

/** A failed request in words; a 401 says nothing here, since the page asks for a token instead. */
export function ErrorNote({ error }: { error: unknown }) {
  if (!error || isUnauthorized(error)) return null
  const text = error instanceof ApiError ? `${error.problem.title ?? 'Error'} (${error.status}): ${error.message}` : String(error)
  return (
    <p class="error" role="alert">
      {text}
    </p>
  )
}
