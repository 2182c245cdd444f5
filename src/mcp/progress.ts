// What waitForJob's progress notifications say: the phase, the step it is at, the seconds waited.
import { isFinal, type JobStatus } from '../jobs/status-schema'
import type { BuildApi } from '../service/api'
import type { Caller } from '../service/build-service'

// Buildah announces each Dockerfile step on its own line ("STEP 2/5: RUN make"); before the first, the
// phase script says what it does ("==> nbs: fetching git://…").
const BUILD_STEP = '/^(STEP \\d+\\/\\d+: |==> nbs: )/'

export async function progressMessage(api: BuildApi, s: JobStatus, caller: Caller, waited: number): Promise<string> {
  const running = s.tasks.filter((t) => t.state === 'running').map((t) => t.task)
  // A final status waits for its last tasks to end (service/wait.ts): they run no more work.
  let step = running.length ? `${running.join(', ')} ${isFinal(s.status) ? 'still ending' : 'running'}` : s.queue ? `queued, waiting for ${s.queue.waitingFor}` : 'waiting for Nomad to start it'
  if (s.status === 'BUILDING') {
    // A progress line is worth one log read; without it the notification still goes out.
    const build = await api.getLogs({ id: s.id, task: 'build', tail: 1, grep: BUILD_STEP }, caller).catch(() => undefined)
    const line = build?.logs[0]?.text.trim().replace(/^==> nbs: /, '')
    if (line) step = `build: ${line}`
  }
  return `${s.status}: ${step}; ${waited} s waited`
}
