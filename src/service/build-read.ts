// Reading a build, once per request, into a snapshot that answers its status, its logs, whether it
// may be killed and whether it may be removed: Nomad's job and allocation while Nomad has them,
// the build record (records.ts) once Nomad has collected them or once the record is the verdict.
import { Value } from '@sinclair/typebox/value'
import type { Config } from '../config'
import { ServiceError } from '../errors'
import { buildIdOf, JOB_PREFIX, META, nomadJobId } from '../jobs/ids'
import { JobRequest } from '../jobs/request'
import { INFRASTRUCTURE_EXIT } from '../jobs/results'
import { deriveStatus, failingTask, needsNodes, type StatusInput } from '../jobs/status'
import type { JobStatus } from '../jobs/status-schema'
import type { NomadClient } from '../nomad/client'
import type { Allocation, Job, JobListStub } from '../nomad/types'
import type { Caller } from './caller'
import { readAllocResults } from './alloc-results'
import { nomadCall } from './nomad-call'
import type { BuildRecord, BuildRecords } from './records'
import { taskLog } from './task-logs'

/** What Nomad holds of a build: the full job, its newest allocation, and the request its Meta carries. */
export interface LiveJob {
  id: string
  job: Job
  request: JobRequest
  createdAt: string
  alloc?: Allocation
}

/** Where a build is told: by Nomad's job, or by the record of a job Nomad no longer has. */
export type Located = { kind: 'live'; build: LiveJob } | { kind: 'recorded'; record: BuildRecord }

/**
 * A build as one request sees it. `recorded` keeps `build` while Nomad still has the job: a
 * stopped job's record is its verdict, and so is the record of a build whose alloc dir is gone.
 */
export type BuildSnapshot = { kind: 'live'; build: LiveJob; status: JobStatus } | { kind: 'recorded'; record: BuildRecord; build?: LiveJob }

export const statusOf = (s: BuildSnapshot): JobStatus => (s.kind === 'live' ? s.status : s.record.status)

// Enough of the failing task's log for its cause: Buildah's STEP line and its error.
const TAIL_READ_BYTES = 64 * 1024

export const isServiceNotFound = (e: unknown) => e instanceof ServiceError && e.code === 'not_found'

export class BuildReader {
  constructor(
    readonly nomad: NomadClient,
    readonly records: BuildRecords,
    private readonly config: Pick<Config, 'nodeLostGraceMs'>,
  ) {}

  /** The caller's build jobs as Nomad lists them: enough to filter on, not to derive a status from. */
  async ownJobs(caller: Caller): Promise<JobListStub[]> {
    const { data } = await nomadCall(() => this.nomad.jobs.list(JOB_PREFIX))
    return data.filter((j) => buildIdOf(j.ID) && (!caller.owner || j.Meta?.[META.owner] === caller.owner))
  }

  async read(id: string, caller: Caller): Promise<BuildSnapshot> {
    const found = await this.locate(id, caller)
    return found.kind === 'live' ? this.snapshot(found.build) : found
  }

  /** The live job, or the record of one Nomad no longer has; not_found for a build that is another owner's. */
  async locate(id: string, caller: Caller): Promise<Located> {
    let build: LiveJob | undefined
    try {
      build = await this.liveJob((await nomadCall(() => this.nomad.jobs.info(nomadJobId(id)))).data, caller)
    } catch (e) {
      // A job Nomad has collected, even between these reads: its record, if any, tells of it.
      if (!isServiceNotFound(e)) throw e
    }
    if (build) return { kind: 'live', build }
    const record = await this.callersRecord(id, caller)
    if (!record) throw new ServiceError('not_found', `id: no job ${id}`, 'id')
    return { kind: 'recorded', record }
  }

  /** The build a job (or a list's stub of it) stands for: undefined when it is no build, or not this caller's. */
  async liveJob(job: Job | JobListStub, caller: Caller): Promise<LiveJob | undefined> {
    const id = buildIdOf(job.ID)
    const meta = job.Meta ?? {}
    const request = meta[META.request]
    if (!id || !request) return undefined
    if (caller.owner && meta[META.owner] !== caller.owner) return undefined
    const { data: stubs } = await nomadCall(() => this.nomad.jobs.allocations(job.ID))
    const newest = stubs.sort((a, b) => b.ModifyIndex - a.ModifyIndex)[0]
    const alloc = newest ? (await nomadCall(() => this.nomad.allocations.info(newest.ID))).data : undefined
    const full = 'TaskGroups' in job ? job : (await nomadCall(() => this.nomad.jobs.info(job.ID))).data
    return { id, job: full, request: storedRequest(job.ID, request), createdAt: meta[META.created] ?? '', alloc }
  }

  /**
   * The status, or the record that is the verdict: a stopped job's record (a build failed for its
   * lost node reads so even after the node came back and ran publish), and the record of a build
   * whose alloc dir Nomad's client has collected. The failing task's log is read only once the
   * status names the task: the cause is read from it.
   */
  async snapshot(build: LiveJob): Promise<BuildSnapshot> {
    const early = build.job.Stop ? await nomadCall(() => this.records.read(build.id)) : null
    if (early) return { kind: 'recorded', record: early, build }
    const input = await this.statusInput(build)
    const record = input.files === null ? await nomadCall(() => this.records.read(build.id)) : null
    if (record) return { kind: 'recorded', record, build }
    const first = deriveStatus(input)
    const task = failingTask(first)
    if (!task || !build.alloc) return { kind: 'live', build, status: first }
    const { text } = await taskLog(this.nomad, build.alloc.ID, task.task, TAIL_READ_BYTES)
    return { kind: 'live', build, status: deriveStatus({ ...input, tails: { [task.task]: text } }) }
  }

  /** What deriveStatus needs beyond the job and allocation, each read only when the status can use it. */
  async statusInput(build: LiveJob): Promise<StatusInput> {
    const { alloc } = build
    const evaluations = alloc ? [] : (await nomadCall(() => this.nomad.jobs.evaluations(build.job.ID))).data
    const allDead = !!alloc && Object.values(alloc.TaskStates ?? {}).every((t) => t.State === 'dead')
    // A node that cannot run the build says why in a file at once; publish, still to run, would delay it.
    const buildSaidWhy = alloc?.TaskStates?.build?.Events?.some((e) => e.Type === 'Terminated' && e.ExitCode === INFRASTRUCTURE_EXIT)
    const files = alloc && (allDead || buildSaidWhy) ? await readAllocResults(this.nomad, alloc.ID, build.request) : undefined
    const nodes = needsNodes(evaluations) ? (await nomadCall(() => this.nomad.nodes.list())).data : undefined
    const nodeLostGrace = { now: Date.now(), ms: this.config.nodeLostGraceMs }
    const { id, request, createdAt, job } = build
    return { id, request, createdAt, job, alloc, evaluations, files, nodes, nodeLostGrace }
  }

  /** The build's record, if it has one and it is this caller's: another owner's build does not exist for them. */
  async callersRecord(id: string, caller: Caller): Promise<BuildRecord | undefined> {
    const record = await nomadCall(() => this.records.read(id))
    return record && (!caller.owner || record.owner === caller.owner) ? record : undefined
  }
}

/** The upload a job's Meta names as its source, if its request parses: the spool keeps those. */
export function sourceNamed(job: Pick<JobListStub, 'Meta'>): string | undefined {
  try {
    const { source } = JSON.parse(job.Meta?.[META.request] ?? '{}') as { source?: unknown }
    return typeof source === 'string' ? source : undefined
  } catch {
    return undefined
  }
}

/** The request as the job's Meta holds it, checked with the schema it was submitted with: Meta is anyone's to write. */
function storedRequest(jobId: string, text: string): JobRequest {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    value = undefined
  }
  if (!Value.Check(JobRequest, value))
    throw new ServiceError('nomad_error', `Nomad job ${jobId}: its Meta "${META.request}" is not a build request this server accepts`)
  return value
}
