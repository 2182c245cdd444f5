// Why a build failed: reason and message, and the cause, summary, hint and step when the status carries them.
import type { Failure } from '../jobs/status-schema'

/**
 * The failure with the fields the status is gaining (failure.cause, summary, hint, step, exitCode): optional here
 * so that the page shows them as soon as the server sends them.
 */
export type FailureView = Failure &
  Partial<{ cause: string; summary: string; hint: string; exitCode: number; step: { index: number; total: number; instruction: string; line?: number } }>

// build_failed, test_failed and publish_failed name their phase already; the others say where they struck.
function headline(f: FailureView): string {
  const words = f.reason.replace('_', ' ')
  const text = `${words[0]?.toUpperCase()}${words.slice(1)}`
  return f.phase && !f.reason.startsWith(f.phase) ? `${text} in ${f.phase}` : text
}

export function FailureBox({ failure }: { failure: FailureView }) {
  return (
    <section class="failure" role="status" aria-labelledby="failure-title">
      <h2 id="failure-title" data-reason={failure.reason}>
        {headline(failure)}
        {failure.cause ? <span class="cause"> · {failure.cause.replaceAll('_', ' ')}</span> : null}
      </h2>
      {failure.summary && <p class="summary">{failure.summary}</p>}
      <p>{failure.message}</p>
      {failure.step && (
        <p>
          Step {failure.step.index}/{failure.step.total}
          {failure.step.line !== undefined ? ` (Dockerfile line ${failure.step.line})` : ''}: <code>{failure.step.instruction}</code>
          {failure.exitCode !== undefined ? ` exited with ${failure.exitCode}` : ''}
        </p>
      )}
      {failure.hint && <p class="hint">Hint: {failure.hint}</p>}
    </section>
  )
}
