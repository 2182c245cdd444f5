// Status derivation: everything a caller sees is computed from Nomad's job, allocation and evaluations.
import { ALLOC_STATE_CLIENT_STATUS, type Allocation, type Evaluation, type Job, type NodeListStub, type TaskState } from '../nomad/types'
import { buildCause, type Explanation, missingSecretOf, missingSecretWords, publishCause, startCause, stepNumber } from './cause'
import { sliceLines } from './logs'
import { largestNode, placementCauses, waitsForCapacity } from './placement'
import { destinations, type PlannedTest, planTasks, planTests } from './plan'
import type { JobRequest } from './request'
import { INFRASTRUCTURE_EXIT } from './results'
import type { Failure, JobState, JobStatus, Phase, Queue, TaskRun } from './status-schema'

/** Small results the tasks leave in the alloc dir, read back once the allocation is done. */
export interface AllocFiles {
  digest?: string
  published?: string
  skipped?: string
  commit?: string
  /** Why the node could not run the build (common.sh's infra: exit INFRASTRUCTURE_EXIT). */
  infrastructure?: string
  exits: Record<string, string | undefined>
}

export interface StatusInput {
  id: string
  request: JobRequest
  createdAt: string
  job: Job
  alloc?: Allocation
  evaluations: Evaluation[]
  /** undefined: not read (yet); null: the alloc dir can no longer be read (Nomad's client collected it). */
  files?: AllocFiles | null
  /** The nodes with their resources, read when a placement failed for want of capacity. */
  nodes?: NodeListStub[]
  /** The end of the failing task's log (failingTask), by task: the cause is read from it. */
  tails?: Record<string, string>
  /**
   * How long a build whose node stopped heartbeating (its allocation `unknown`) may wait for the
   * node to come back, and the time of the read (NBS_NODE_LOST_GRACE). Absent: it fails at once.
   */
  nodeLostGrace?: { now: number; ms: number }
}

// `timeout` exits 124 when the phase's own time limit fires (Nomad has none for batch tasks).
const TIMEOUT_EXIT = 124
// Lines of the failing task's log a status carries.
const FAILURE_TAIL_LINES = 30

interface Observed extends TaskRun {
  driverError?: string
  /** The secret reference a template waits for: Nomad blocks such a task for ever (conformance: missing-variable). */
  missingSecret?: string
  /** Why Nomad could not start the task, from its events (a hook, an artifact). */
  startError?: Explanation & { summary: string }
}

const isSet = (t: string | null | undefined): t is string => !!t && !t.startsWith('0001-')
const iso = (t: string | null | undefined) => (isSet(t) ? new Date(t).toISOString() : undefined)

function observe(task: string, phase: Phase, ts: TaskState | undefined, allocDone: boolean, command?: string): Observed {
  const events = ts?.Events ?? []
  const terminated = events.findLast((e) => e.Type === 'Terminated')
  const driverError = events.find((e) => e.Type === 'Driver Failure')?.DriverError
  const started = isSet(ts?.StartedAt)
  const missingSecret = started ? undefined : events.map((e) => missingSecretOf(e.DisplayMessage)).findLast(Boolean)
  const killed = events.some((e) => e.Type === 'Killed' || e.Type === 'Killing')
  let state: TaskRun['state']
  if (!ts || ts.State === 'pending') state = allocDone ? 'skipped' : 'pending'
  else if (ts.State === 'running') state = 'running'
  else if (ts.Failed) state = 'failed'
  else if (!started) state = 'skipped'
  else if (killed && terminated?.ExitCode !== 0) state = 'killed'
  else state = terminated?.ExitCode === 0 || terminated === undefined ? 'succeeded' : 'failed'
  const run: Observed = { task, phase, state, startedAt: iso(ts?.StartedAt), finishedAt: iso(ts?.FinishedAt) }
  if (command !== undefined) run.command = command
  if (terminated?.ExitCode !== undefined && ts?.State === 'dead') run.exitCode = terminated.ExitCode
  if (driverError) run.driverError = driverError
  if (missingSecret) run.missingSecret = missingSecret
  const startError = started ? undefined : startCause(task, events)
  if (startError) run.startError = startError
  return run
}

function failureOf(runs: Observed[], tests: PlannedTest[], job: Job, alloc: Allocation, files?: AllocFiles | null, tails: Record<string, string> = {}): Failure | undefined {
  const waiting = runs.find((r) => r.missingSecret)
  if (waiting) {
    const message = missingSecretWords(waiting.task, waiting.missingSecret as string)
    return { reason: 'infrastructure', phase: waiting.phase, message, cause: 'secret_unavailable', summary: message }
  }
  const refused = runs.find((r) => r.startError)
  if (refused?.startError) return { reason: 'infrastructure', phase: refused.phase, message: refused.startError.summary, ...refused.startError }
  const broken = runs.find((r) => r.driverError)
  if (broken) {
    const message = `task ${broken.task} could not start: ${broken.driverError}${driverHint(broken.driverError ?? '')}`
    return { reason: 'infrastructure', phase: broken.phase, message, cause: 'node_unfit', summary: message }
  }
  const build = runs[0]
  const exit = (r: Observed) => (r.exitCode === undefined ? {} : { exitCode: r.exitCode })
  if (build?.state === 'failed' && build.exitCode === INFRASTRUCTURE_EXIT) {
    const message = files?.infrastructure?.trim() ?? 'the node cannot run the build: see the build log'
    return { reason: 'infrastructure', phase: 'build', message, cause: 'node_unfit', summary: message, ...exit(build) }
  }
  if (build?.state === 'failed') {
    const log = tails.build ?? ''
    if (build.exitCode === TIMEOUT_EXIT) {
      const message = 'the build phase ran out of time (timeouts.build)'
      const at = buildCause(log, undefined)?.step
      const summary = `${message}${at ? ` during ${stepNumber(at)} (${at.instruction})` : ''}`
      return { reason: 'timeout', phase: 'build', message, cause: 'timeout', summary, ...(at ? { step: at } : {}), ...exit(build) }
    }
    return { reason: 'build_failed', phase: 'build', message: `the build failed with exit code ${build.exitCode ?? 'unknown'}`, ...exit(build), ...buildCause(log, build.exitCode) }
  }
  const failedTests = runs.filter((r) => r.phase === 'test' && r.state === 'failed')
  if (failedTests.length > 0) {
    const command = (r: Observed) => tests.find((t) => t.task === r.task)?.command
    const timedOut = failedTests.filter((r) => r.exitCode === TIMEOUT_EXIT && files?.exits[r.task] === undefined)
    if (timedOut.length === failedTests.length) {
      const message = `${timedOut.map((r) => r.task).join(', ')} ran out of time (test.timeout)`
      const summary = timedOut.map((r) => `${r.task} (${command(r)})`).join(', ') + ' ran out of time (test.timeout)'
      return { reason: 'timeout', phase: 'test', message, cause: 'test_timeout', summary, hint: 'raise test.timeout, or make the test finish sooner' }
    }
    const exits = failedTests.map((r) => Number(files?.exits[r.task]?.trim() ?? r.exitCode))
    const said = failedTests.map((r, i) => `${r.task} (${command(r)}) exited with ${Number.isNaN(exits[i]) ? 'unknown' : exits[i]}`)
    const message = said.join('; ')
    const first = exits[0] as number
    return { reason: 'test_failed', phase: 'test', message, cause: 'test_failed', summary: message, ...(Number.isNaN(first) ? {} : { exitCode: first }) }
  }
  if (job.Stop || alloc.DesiredStatus === 'stop') {
    const at = runs.find((r) => r.state === 'killed') ?? runs.find((r) => r.state === 'running' || r.state === 'pending')
    const message = 'the job was killed' + (at ? ` during ${at.phase}` : '')
    const step = at?.phase === 'build' ? buildCause(tails.build ?? '', undefined)?.step : undefined
    const summary = `${message}${step ? `, at ${stepNumber(step)} (${step.instruction})` : ''}; nothing was published`
    return { reason: 'killed', phase: at?.phase, message, cause: 'killed', summary, ...(step ? { step } : {}) }
  }
  const publish = runs.at(-1)
  if (publish?.state === 'failed') {
    if (publish.exitCode === TIMEOUT_EXIT) {
      const message = 'the push ran out of time (timeouts.publish)'
      return { reason: 'timeout', phase: 'publish', message, cause: 'timeout', summary: message, ...exit(publish) }
    }
    return { reason: 'publish_failed', phase: 'publish', message: `the push failed with exit code ${publish.exitCode ?? 'unknown'}`, ...exit(publish), ...publishCause(tails.publish ?? '', publish.exitCode) }
  }
  return undefined
}

/** The server setting an operator changes for a task Nomad's driver could not start. */
function driverHint(error: string): string {
  if (/^Failed to pull/.test(error))
    return ' (the nodes cannot pull the builder image: push it where they can, `make builder-image REGISTRY=…`, and set NBS_BUILDAH_IMAGE to it)'
  if (/\/dev\/fuse/.test(error)) return ' (the node has no /dev/fuse: load the fuse module on the nodes, or set NBS_STORAGE_DRIVER to overlay or vfs)'
  return ''
}

/** When the servers last changed the allocation's client status to `status`. */
const changedTo = (alloc: Allocation, status: string): string | undefined =>
  alloc.AllocStates?.findLast((s) => s.Field === ALLOC_STATE_CLIENT_STATUS && s.Value === status)?.Time

/** True while a disconnected node may still come back to its build: the grace has not run out. */
function mayComeBack(alloc: Allocation, grace: StatusInput['nodeLostGrace']): boolean {
  if (alloc.ClientStatus !== 'unknown' || !grace) return false
  const since = Date.parse(changedTo(alloc, 'unknown') ?? '')
  return !Number.isNaN(since) && grace.now - since < grace.ms
}

/** The servers no longer hear from the allocation's node: unknown (it may come back), or lost. */
const nodeGone = (alloc: Allocation) => alloc.ClientStatus === 'lost' || alloc.ClientStatus === 'unknown'

/** When the servers marked the allocation's node gone, if they said so. */
function lostSince(alloc: Allocation): string | undefined {
  if (!nodeGone(alloc)) return undefined
  return iso(changedTo(alloc, 'unknown') ?? changedTo(alloc, 'lost'))
}

/** The node went away under the build: not the user's doing, whatever else the job says (a stop included). */
function lostNode(alloc: Allocation, runs: Observed[]): Failure | undefined {
  if (!nodeGone(alloc)) return undefined
  const at = runs.find((r) => r.state === 'running' || r.state === 'pending')
  const since = lostSince(alloc)
  const message =
    `node ${alloc.NodeName || alloc.NodeID} stopped answering${since ? ` at ${since}` : ''}` +
    `${at ? ` during ${at.phase}` : ''}; the build is not run again, and it pushes nothing`
  return { reason: 'infrastructure', phase: at?.phase, message, cause: 'node_lost', summary: message, hint: 'submit the build again' }
}

/** A failed placement either waits for capacity (Nomad keeps a blocked evaluation) or can never happen. */
function placementOf(input: Pick<StatusInput, 'job' | 'evaluations' | 'nodes' | 'createdAt'>): { failure: Failure } | { queue: Queue } | undefined {
  const { job, evaluations, nodes } = input
  for (const ev of evaluations) {
    for (const metric of Object.values(ev.FailedTGAllocs ?? {})) {
      const wait = nodes && waitsForCapacity(metric, job, nodes)
      if (wait) return { queue: { ...wait, since: input.createdAt } }
      const causes = placementCauses(metric, job)
      const largest = nodes && (metric.NodesExhausted ?? 0) > 0 ? `; ${largestNode(job, nodes)}` : ''
      const message = `cannot place the job: ${causes.join('; ') || 'no node fits'}${largest}`
      return { failure: { reason: 'infrastructure', message, cause: 'placement', summary: message } }
    }
  }
  return undefined
}

/** True when a placement failed for want of memory or CPU: only the nodes' capacity can tell wait from never. */
/** Whether the build task of an ended allocation succeeded, as a status would say it. */
export const buildSucceeded = (alloc: Pick<Allocation, 'TaskStates'>) => observe('build', 'build', alloc.TaskStates?.build, true).state === 'succeeded'

export const needsNodes = (evaluations: Evaluation[]) =>
  evaluations.some((ev) => Object.values(ev.FailedTGAllocs ?? {}).some((m) => (m.NodesExhausted ?? 0) > 0))

const runningState = (runs: Observed[]): JobState => {
  const frontier = runs.find((r) => r.state === 'pending' || r.state === 'running')
  if (!frontier) return 'PUBLISHING'
  if (frontier.phase === 'build') return frontier.state === 'running' ? 'BUILDING' : 'PENDING'
  return frontier.phase === 'test' ? 'TESTING' : 'PUBLISHING'
}

export function deriveStatus(input: StatusInput): JobStatus {
  const { id, request, createdAt, job, alloc, evaluations, files } = input
  const tests = planTests(request)
  const base = { id, createdAt, request }
  const plan = planTasks(request)

  if (!alloc) {
    const placement = placementOf(input)
    // A placement that can never happen ends the job as surely as a stop: no task will start.
    const never = !!job.Stop || (!!placement && 'failure' in placement)
    const tasks = plan.map((p) => observe(p.task, p.phase, undefined, never, p.command)).map(strip)
    if (placement && 'failure' in placement) return { ...base, status: 'FAILED', tasks, failure: placement.failure }
    if (job.Stop) {
      const message = 'the job was killed before it started'
      return { ...base, status: 'FAILED', tasks, failure: { reason: 'killed', message, cause: 'killed', summary: message } }
    }
    return placement ? { ...base, status: 'PENDING', tasks, queue: placement.queue } : { ...base, status: 'PENDING', tasks }
  }

  const states = alloc.TaskStates ?? {}
  // Within the grace the build goes on as its node last reported it: the node may come back.
  const waitsForNode = mayComeBack(alloc, input.nodeLostGrace)
  const allDone = plan.every((p) => states[p.task]?.State === 'dead') || (nodeGone(alloc) && !waitsForNode)
  const runs = plan.map((p) => observe(p.task, p.phase, states[p.task], allDone, p.command))
  // A publish that declined (publish.skipped) exits 0, yet it published nothing.
  const publishRun = runs.at(-1)
  if (publishRun && files?.skipped && publishRun.state === 'succeeded') publishRun.state = 'skipped'
  const tasks = runs.map(strip)
  // A build whose node went away ended, as far as anyone knows, when the servers said so.
  const finishedAt = allDone ? [...runs.map((r) => r.finishedAt), lostSince(alloc)].filter(Boolean).sort().at(-1) : undefined
  const withEnd = <T extends object>(s: T) => (finishedAt ? { ...s, finishedAt } : s)

  // What the registry holds decides: publish lists each reference once its push has succeeded,
  // and pushes only after the build and every test passed, so a kill that came too late to stop
  // the push (Nomad runs poststop tasks after a stop) still reads SUCCEEDED, with what was pushed.
  const digest = files?.digest?.trim()
  const pushed = (files?.published ?? '').split('\n').filter(Boolean)
  if (allDone && digest && pushed.length > 0) {
    const result: JobStatus['result'] = { images: pushed, digest }
    if (files?.commit) result.commit = files.commit.trim()
    return withEnd({ ...base, status: 'SUCCEEDED' as const, tasks, result })
  }

  const lost = waitsForNode ? undefined : lostNode(alloc, runs)
  const failure = lost ?? failureOf(runs, tests, job, alloc, files, input.tails)
  // A failure is final as soon as it is known: publish, still to run, will only decline.
  if (failure) {
    // Nomad keeps saying "running" for a task of a node that stopped answering: nobody knows.
    const told = lost ? tasks.map((t) => (t.state === 'running' ? { ...t, state: 'lost' as const } : t)) : tasks
    const tail = input.tails?.[failingTask({ tasks: told, failure })?.task ?? '']
    if (tail) failure.logTail = sliceLines(tail, FAILURE_TAIL_LINES, true).text
    return withEnd({ ...base, status: 'FAILED' as const, tasks: told, failure })
  }
  if (!allDone) return { ...base, status: runningState(runs), tasks }
  if (files === null)
    return withEnd({
      ...base,
      status: 'FAILED' as const,
      tasks,
      failure: {
        reason: 'infrastructure',
        phase: 'publish',
        message: `the results in allocation ${alloc.ID}'s directory can no longer be read (Nomad's client removed it); publish exited ${runs.at(-1)?.exitCode ?? 'unknown'}, so whether ${destinations(id, request).join(', ')} was pushed cannot be told from Nomad`,
      },
    })
  const why = files?.skipped?.trim() ?? 'publish finished without a digest'
  return withEnd({ ...base, status: 'FAILED' as const, tasks, failure: { reason: 'infrastructure', phase: 'publish', message: why } })
}

/**
 * True when Nomad would keep this job waiting for ever: no node can ever place it (Nomad keeps a
 * blocked evaluation), or a task waits for a secret that does not exist (conformance:
 * missing-variable). Such a job is FAILED already; stopping it is the reconciler's work, not a read's.
 */
export function waitsForever(input: StatusInput): boolean {
  const { job, alloc } = input
  if (job.Stop || job.Status === 'dead') return false
  if (!alloc) return 'failure' in (placementOf(input) ?? {})
  const states = alloc.TaskStates ?? {}
  return Object.entries(states).some(([task, ts]) => observe(task, 'build', ts, false).missingSecret !== undefined)
}

function strip(r: Observed): TaskRun {
  const { driverError: _, missingSecret: __, startError: ___, ...run } = r
  return run
}

/** The task whose log tells the failure's cause: the first of its phase that failed or was killed, once it has started. */
export function failingTask(s: Pick<JobStatus, 'tasks' | 'failure'>): TaskRun | undefined {
  const { failure } = s
  if (!failure?.phase) return undefined
  return s.tasks.find((t) => t.phase === failure.phase && (t.state === 'failed' || t.state === 'killed' || t.state === 'lost') && t.startedAt)
}
