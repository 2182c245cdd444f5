// The service's operations, transport-free: every surface (MCP, REST, CLI) calls these and nothing else.
import { Value } from '@sinclair/typebox/value'
import type { Config } from '../config'
import { ServiceError } from '../errors'
import { buildIdOf, JOB_PREFIX, newBuildId, nomadJobId } from '../jobs/ids'
import { grepMatcher, sliceLines } from '../jobs/logs'
import { cacheKeyOf, destinations, META, planTests, renderJob } from '../jobs/render'
import { JobRequest } from '../jobs/request'
import { deriveStatus, failingTask, INFRASTRUCTURE_EXIT, needsNodes, type StatusInput, waitsForever } from '../jobs/status'
import { isFinal, type JobStatus, type Phase } from '../jobs/status-schema'
import { validateRequest } from '../jobs/validate'
import type { NomadClient } from '../nomad/client'
import type { Allocation, Job } from '../nomad/types'
import { readAllocResults } from './alloc-results'
import { type LogChunk, LogFollower } from './follow-logs'
import { nomadCall, nomadStream } from './nomad-call'
import { type BuildRecord, BuildRecords } from './records'
import { runInBuildImage } from './run-in-image'
import { SourceSpool } from './sources'
import { taskLog } from './task-logs'
import type {
  CleanupQuery,
  CleanupResult,
  JobList,
  JobSummary,
  ListQuery,
  Logs,
  LogsQuery,
  RunRequest,
  RunResult,
  ServerInfo,
  SourceUpload,
  SubmitResult,
  TaskLog,
  WaitQuery,
} from './schemas'
import { serverInfo } from './server-info'
import { SETTLE_SECONDS, settled, waitLoop } from './wait'

/** Who is asking: jobs are tagged with their owner, and another owner's job does not exist for them. */
export interface Caller {
  owner?: string
  /** Secret reference prefixes this caller may use (from its client entry); the server default otherwise. */
  secretPrefixes?: readonly string[]
  /** Builds this caller may have queued or running at once (from its client entry); the server default otherwise. */
  maxInFlight?: number
}

interface Loaded {
  id: string
  job: Job
  request: JobRequest
  createdAt: string
  alloc?: Allocation
}

const TAIL_BYTES = 1 << 20
// Enough of the failing task's log for its cause: Buildah's STEP line and its error.
const TAIL_READ_BYTES = 64 * 1024
// A hello-world build takes a few seconds; a retry sooner would only find the same builds running.
const RETRY_AFTER_SECONDS = 10

export class BuildService {
  private readonly follower: LogFollower
  private readonly records: BuildRecords
  private readonly sources: SourceSpool

  constructor(
    private readonly nomad: NomadClient,
    private readonly config: Config,
  ) {
    this.follower = new LogFollower(nomad)
    this.records = new BuildRecords(nomad, config.recordsPrefix)
    this.sources = new SourceSpool(nomad, config.sources, () => this.sourcesInUse())
  }

  async submitJob(input: unknown, caller: Caller = {}): Promise<SubmitResult> {
    const request = validateRequest(input, {
      allowInsecureGit: this.config.allowInsecureGit,
      secretPrefixes: caller.secretPrefixes ?? this.config.secretPrefixes,
      sshHostKeyChecking: this.config.sshHostKeyChecking,
    })
    await this.admit(caller)
    const id = newBuildId()
    const createdAt = new Date()
    const source = request.source ? await nomadCall(() => this.sources.artifactFor(request.source as string, caller.owner, id)) : undefined
    const warmNode = await nomadCall(() => this.records.warmNode(cacheKeyOf(request, caller.owner)))
    const job = renderJob({ id, request, createdAt, owner: caller.owner, source, warmNode }, this.config)
    await nomadCall(() => this.nomad.jobs.register(job, { enforceIndex: 0 }))
    return { id, status: 'PENDING', createdAt: createdAt.toISOString(), images: destinations(id, request) }
  }

  /**
   * The per-client limit on builds in flight. Two submissions racing can both pass it: it bounds
   * a burst, it is not a quota.
   */
  private async admit(caller: Caller): Promise<void> {
    const limit = caller.maxInFlight ?? this.config.maxInFlight
    if (!limit) return
    // Builds and runInImage's runs alike: both hold a node.
    const { data } = await nomadCall(() => this.nomad.jobs.list(JOB_PREFIX))
    const inFlight = data.filter((j) => j.Status !== 'dead' && !j.Stop && (!caller.owner || j.Meta?.[META.owner] === caller.owner)).length
    if (inFlight >= limit)
      throw new ServiceError(
        'too_many_requests',
        `${inFlight} of your builds are queued or running, and ${limit} at once is your limit: wait for one to finish (or kill one)`,
        undefined,
        undefined,
        RETRY_AFTER_SECONDS,
      )
  }

  async getStatus(id: string, caller: Caller = {}): Promise<JobStatus> {
    const found = await this.find(id, caller)
    return 'record' in found ? found.record.status : (await this.statusOf(found)).status
  }

  async getLogs(q: LogsQuery, caller: Caller = {}): Promise<Logs> {
    const match = q.grep === undefined ? undefined : grepMatcher(q.grep)
    const wanted = (state: string) => !q.failedOnly || state === 'failed'
    const found = await this.find(q.id, caller)
    const tail = q.tail ?? 200
    const fromRecord = 'record' in found ? found.record : (await this.statusOf(found)).record
    if (fromRecord) {
      const record = fromRecord
      const kept = record.logs.filter((l) => (!q.phase || l.phase === q.phase) && (!q.task || l.task === q.task))
      if (q.task && kept.length === 0) throw new ServiceError('not_found', `task: job ${q.id} has no task ${q.task}`, 'task')
      const logs = kept.filter((l) => wanted(l.state)).map((l) => {
        const { text, truncated } = sliceLines(l.text, tail, l.truncated, match)
        return { ...l, text, truncated }
      })
      const { failure } = record.status
      return { id: q.id, status: record.status.status, ...(failure ? { failure } : {}), logs }
    }
    const loaded = found as Loaded
    const { status } = await this.statusOf(loaded)
    const selected = status.tasks.filter((t) => (!q.phase || t.phase === q.phase) && (!q.task || t.task === q.task))
    if (q.task && selected.length === 0)
      throw new ServiceError('not_found', `task: job ${q.id} has no task ${q.task}`, 'task')
    const logs = await Promise.all(
      selected.filter((t) => wanted(t.state)).map(async (t): Promise<TaskLog> => {
        const raw =
          t.startedAt && loaded.alloc
            ? await taskLog(this.nomad, loaded.alloc.ID, t.task, tail === 0 ? undefined : TAIL_BYTES)
            : { text: '', clipped: false }
        const { text, truncated } = sliceLines(raw.text, tail, raw.clipped, match)
        return { task: t.task, phase: t.phase, state: t.state, text, truncated, ...(t.exitCode === undefined ? {} : { exitCode: t.exitCode }) }
      }),
    )
    return { id: q.id, status: status.status, ...(status.failure ? { failure: status.failure } : {}), logs }
  }

  /** Streams the selected tasks' output as it is written, until each has ended and its log is read. */
  async *followLogs(q: Omit<LogsQuery, 'tail'>, caller: Caller = {}, signal?: AbortSignal): AsyncGenerator<LogChunk> {
    const found = await this.find(q.id, caller)
    if ('record' in found) {
      for (const l of (await this.getLogs({ ...q, tail: 0 }, caller)).logs) if (l.text) yield { task: l.task, text: l.text }
      return
    }
    const loaded = found
    const tasks = ['build', ...planTests(loaded.request).map((t) => t.task), 'publish'].filter(
      (task) => (!q.task || q.task === task) && (!q.phase || phaseOf(task) === q.phase),
    )
    const target = {
      jobId: loaded.job.ID,
      willNeverStart: async (task: string) => {
        const now = await this.load(q.id, caller)
        const { status } = await this.statusOf(now)
        return status.tasks.find((t) => t.task === task)?.state === 'skipped' || (isFinal(status.status) && !now.alloc)
      },
    }
    yield* nomadStream(this.follower.follow(target, tasks, signal))
  }

  async killJob(id: string, caller: Caller = {}): Promise<JobStatus> {
    const found = await this.find(id, caller)
    if ('record' in found)
      throw new ServiceError('conflict', `id: job ${id} has already finished (${found.record.status.status}); nothing to kill`, 'id')
    const loaded = found
    const { status } = await this.statusOf(loaded)
    if (isFinal(status.status) && (status.failure?.reason !== 'infrastructure' || loaded.job.Stop))
      throw new ServiceError('conflict', `id: job ${id} has already finished (${status.status}); nothing to kill`, 'id')
    // Once the push has begun the kill could only cut it short: the registry would hold some
    // tags of a job that reads as killed.
    if (status.status === 'PUBLISHING')
      throw new ServiceError('conflict', `id: job ${id} is publishing; a push is not interrupted: wait for it to finish, then remove the tags you do not want`, 'id')
    await nomadCall(() => this.nomad.jobs.deregister(loaded.job.ID))
    // Nomad stops the tasks, then runs publish (poststop), which declines: the answer waits for them.
    return this.waitForJob({ id, until: 'final', timeoutSeconds: SETTLE_SECONDS }, caller)
  }

  async cleanup(q: CleanupQuery, caller: Caller = {}): Promise<CleanupResult> {
    if (!q.id && q.olderThanSeconds === undefined && !q.all)
      throw new ServiceError('invalid_request', 'cleanup needs id (one job), olderThanSeconds (the finished jobs older than that) or all: true (every finished job)', 'all')
    const result: CleanupResult = { removed: [], kept: [] }
    const found = q.id ? await this.find(q.id, caller) : undefined
    const candidates = found ? ('record' in found ? [] : [found.job]) : await this.ownJobs(caller)
    const recorded = await nomadCall(() => this.records.ids())
    const cutoff = Date.now() - (q.olderThanSeconds ?? 0) * 1000
    for (const job of candidates) {
      const id = buildIdOf(job.ID) ?? job.ID
      const created = Date.parse(job.Meta?.[META.created] ?? '')
      if (!q.id && created > cutoff) continue
      if (job.Status !== 'dead') {
        result.kept.push({ id, reason: `still ${job.Status}: kill it first` })
        continue
      }
      await nomadCall(() => this.nomad.jobs.deregister(job.ID, { purge: true }))
      if (recorded.has(id)) await nomadCall(() => this.records.remove(id))
      result.removed.push(id)
    }
    // Records whose job Nomad has collected already: removed by the same rule.
    const live = new Set(candidates.map((j) => buildIdOf(j.ID)))
    const orphans = found ? ('record' in found ? [found.record] : []) : await this.orphanRecords(recorded, live, caller)
    for (const record of orphans) {
      if (!q.id && Date.parse(record.status.createdAt) > cutoff) continue
      await nomadCall(() => this.records.remove(record.status.id))
      result.removed.push(record.status.id)
    }
    if (q.id && result.kept.length > 0)
      throw new ServiceError('conflict', `id: job ${q.id} is ${result.kept[0]?.reason}`, 'id')
    return result
  }

  async listJobs(q: ListQuery = {}, caller: Caller = {}): Promise<JobList> {
    const live = new Map((await this.ownJobs(caller)).map((j) => [buildIdOf(j.ID) as string, j]))
    const recorded = [...(await nomadCall(() => this.records.ids()))].filter((id) => !live.has(id))
    // Newest first, the builds Nomad still has and those only a record tells of alike: a build
    // id begins with its creation time.
    const ids = [...live.keys(), ...recorded].sort().reverse()
    const limit = q.limit ?? 50
    const out: JobSummary[] = []
    for (const id of ids) {
      if (out.length >= limit) break
      const listed = await this.listedStatus(id, live.get(id), caller)
      if (listed && (!q.status || listed.status.status === q.status)) out.push(summaryOf(listed.status, listed.owner))
    }
    return { jobs: out }
  }

  /** A listed build's status and owner: from its job, or from its record once Nomad no longer has the job. */
  private async listedStatus(id: string, job: Job | undefined, caller: Caller): Promise<{ status: JobStatus; owner?: string } | undefined> {
    if (job) {
      const loaded = await this.loadJob(job, caller).catch(() => undefined)
      return loaded && { status: (await this.statusOf(loaded)).status, owner: job.Meta?.[META.owner] }
    }
    const record = await this.callersRecord(id, caller)
    return record && { status: record.status, owner: record.owner }
  }

  /** Returns when the status changes (or becomes final), or at the timeout: blocking queries, not polling. */
  async waitForJob(
    q: WaitQuery,
    caller: Caller = {},
    signal?: AbortSignal,
    onProgress?: (status: JobStatus) => Promise<void> | void,
  ): Promise<JobStatus> {
    let index = 0
    return waitLoop(
      q,
      await this.getStatus(q.id, caller),
      async (seconds) => {
        const r = await nomadCall(() => this.nomad.jobs.allocations(nomadJobId(q.id), { waitIndex: index, waitTime: `${seconds}s`, signal }))
        index = r.meta.lastIndex
        return this.getStatus(q.id, caller)
      },
      signal,
      onProgress,
    )
  }

  /**
   * One pass of the reconciler (src/service/reconciler.ts): stops the jobs Nomad would keep waiting
   * for ever, and the builds whose node stopped answering for longer than NBS_NODE_LOST_GRACE. A
   * lost build is recorded first: once stopped, a node that comes back would make it read killed.
   * Idempotent, so every replica may run it: stopping a stopped job changes nothing.
   */
  async stopStuckJobs(): Promise<PassResult> {
    return this.eachOwnJob(async (job) => {
      if (job.Stop || job.Status === 'dead') return undefined
      const loaded = await this.loadJob(job, {})
      if (!loaded) return undefined
      const input = await this.statusInput(loaded)
      const lost = deriveStatus(input)
      if (lost.failure?.cause === 'node_lost') await this.record(loaded, lost, await this.readableLogs(loaded.id))
      else if (!waitsForever(input)) return undefined
      await nomadCall(() => this.nomad.jobs.deregister(job.ID))
      return loaded.id
    })
  }

  /** The logs a record keeps, or none when the node that holds them does not answer. */
  private async readableLogs(id: string): Promise<TaskLog[]> {
    return (await this.getLogs({ id, tail: 200 }).catch(() => undefined))?.logs ?? []
  }

  /** Writes the build's record unless one exists; notes the node that now holds its layers. */
  private async record(l: Loaded, status: JobStatus, logs: TaskLog[]): Promise<boolean> {
    const owner = l.job.Meta?.[META.owner]
    const written = await nomadCall(() => this.records.write(l.id, { status, logs, ...(owner ? { owner } : {}) }))
    if (written && l.alloc && status.tasks[0]?.state === 'succeeded')
      await nomadCall(() => this.records.noteWarmNode(cacheKeyOf(l.request, owner), l.alloc?.NodeID as string))
    return written
  }

  /**
   * The reconciler's other duty: a record for every finished build that has none, read while
   * Nomad still has the allocation. Written once (check-and-set), so replicas cannot clash.
   */
  async recordFinishedJobs(): Promise<PassResult> {
    const recorded = await nomadCall(() => this.records.ids())
    return this.eachOwnJob(async (job) => {
      const id = buildIdOf(job.ID)
      if (!id || job.Status !== 'dead' || recorded.has(id)) return undefined
      const loaded = await this.loadJob(job, {})
      if (!loaded) return undefined
      const { status } = await this.statusOf(loaded)
      if (!isFinal(status.status) || !settled(status)) return undefined
      const { logs } = await this.getLogs({ id, tail: 200 })
      return (await this.record(loaded, status, logs)) ? id : undefined
    })
  }

  /**
   * `act` on each build job, one at a time; a job it fails on is reported and the pass goes on, so
   * that one job this replica cannot read (another version's, say, during a rolling update) holds up no other.
   */
  private async eachOwnJob(act: (job: Job) => Promise<string | undefined>): Promise<PassResult> {
    const result: PassResult = { done: [], failed: [] }
    for (const job of await this.ownJobs({})) {
      try {
        const id = await act(job)
        if (id) result.done.push(id)
      } catch (e) {
        result.failed.push({ job: job.ID, message: e instanceof Error ? e.message : String(e) })
      }
    }
    return result
  }

  /** One bounded command in an ended build's image (or its last good step's), on the node that holds it. */
  async runInImage(id: string, run: RunRequest, caller: Caller = {}, signal?: AbortSignal): Promise<RunResult> {
    const found = await this.find(id, caller)
    if ('record' in found)
      throw new ServiceError('not_found', `id: Nomad has collected job ${id}, and with it where its image is: resubmit the build to look inside it`, 'id')
    await this.admit(caller)
    const { status } = await this.statusOf(found)
    return runInBuildImage(this.nomad, this.config, { id, owner: caller.owner, status, alloc: found.alloc }, run, signal)
  }

  /** Takes an uploaded tar or tar.gz into this replica's spool: POST /v1/sources, `nbs upload`. */
  uploadSource(body: ReadableStream<Uint8Array> | Blob | null, caller: Caller = {}, bytes?: number): Promise<SourceUpload> {
    const stream = body instanceof Blob ? body.stream() : body
    return nomadCall(() => this.sources.receive(stream, caller.owner, bytes ?? (body instanceof Blob ? body.size : undefined)))
  }

  /**
   * The archive of an uploaded source, for the Nomad client fetching it for build `buildId`: only
   * with that build's token, and only while the build is live (its job neither stopped nor done).
   */
  async sourceArchive(hex: string, buildId: string, authorization: string | null): Promise<Response> {
    const job = await nomadCall(() => this.nomad.jobs.info(nomadJobId(buildId)))
      .then((r) => r.data)
      .catch((e) => {
        if (isServiceNotFound(e)) return undefined
        throw e
      })
    const live = job && !job.Stop && job.Status !== 'dead'
    const artifact = live ? (job.TaskGroups?.[0]?.Tasks.find((t) => t.Name === 'build')?.Artifacts?.[0] ?? null) : null
    return this.sources.serve(hex, authorization, artifact)
  }

  /**
   * The reconciler's third duty: this replica's spool keeps only the uploads that have not expired
   * and those a live build still needs. Returns the bytes it holds.
   */
  evictSources(): Promise<number> {
    return nomadCall(() => this.sources.evict())
  }

  /** The sources that builds not yet ended name: the spool keeps them whatever their age. */
  private async sourcesInUse(): Promise<Set<string>> {
    const inUse = new Set<string>()
    for (const job of await this.ownJobs({})) {
      if (job.Stop || job.Status === 'dead') continue
      const source = (() => {
        try {
          return (JSON.parse(job.Meta?.[META.request] ?? '{}') as { source?: unknown }).source
        } catch {
          return undefined
        }
      })()
      if (typeof source === 'string') inUse.add(source)
    }
    return inUse
  }

  /** What this server accepts, for this caller: getServerInfo, GET /v1/info. */
  async serverInfo(caller: Caller = {}): Promise<ServerInfo> {
    return serverInfo(this.config, caller)
  }

  async ready(): Promise<{ ok: boolean; reason?: string }> {
    try {
      await this.nomad.status.leader()
      return { ok: true }
    } catch (e) {
      return { ok: false, reason: e instanceof Error ? e.message : String(e) }
    }
  }

  private async ownJobs(caller: Caller): Promise<Job[]> {
    const { data } = await nomadCall(() => this.nomad.jobs.list(JOB_PREFIX))
    return data
      .filter((j) => buildIdOf(j.ID) && (!caller.owner || j.Meta?.[META.owner] === caller.owner))
      .map((j) => ({ ID: j.ID, Name: j.Name, Status: j.Status, Stop: j.Stop, Meta: j.Meta }) as Job)
  }

  /** The live job, or the record of one Nomad no longer has. */
  private async find(id: string, caller: Caller): Promise<Loaded | { record: BuildRecord }> {
    try {
      return await this.load(id, caller)
    } catch (e) {
      if (!isServiceNotFound(e)) throw e
      const record = await this.callersRecord(id, caller)
      if (!record) throw e
      return { record }
    }
  }

  /** The records of this caller whose Nomad job is gone, newest first. */
  private async orphanRecords(recorded: Set<string>, live: Set<string | undefined>, caller: Caller): Promise<BuildRecord[]> {
    const ids = [...recorded].filter((id) => !live.has(id)).sort().reverse()
    const records = await Promise.all(ids.map((id) => this.callersRecord(id, caller)))
    return records.filter((r): r is BuildRecord => !!r)
  }

  /** The build's record, if it has one and it is this caller's: another owner's build does not exist for them. */
  private async callersRecord(id: string, caller: Caller): Promise<BuildRecord | undefined> {
    const record = await nomadCall(() => this.records.read(id))
    return record && (!caller.owner || record.owner === caller.owner) ? record : undefined
  }

  private async load(id: string, caller: Caller): Promise<Loaded> {
    const notFound = new ServiceError('not_found', `id: no job ${id}`, 'id')
    let job: Job
    try {
      job = (await nomadCall(() => this.nomad.jobs.info(nomadJobId(id)))).data
    } catch (e) {
      throw isServiceNotFound(e) ? notFound : e
    }
    const loaded = await this.loadJob(job, caller)
    if (!loaded) throw notFound
    return loaded
  }

  private async loadJob(job: Job, caller: Caller): Promise<Loaded | undefined> {
    const id = buildIdOf(job.ID)
    const meta = job.Meta ?? {}
    if (!id || !meta[META.request]) return undefined
    if (caller.owner && meta[META.owner] !== caller.owner) return undefined
    const { data: stubs } = await nomadCall(() => this.nomad.jobs.allocations(job.ID))
    const newest = stubs.sort((a, b) => b.ModifyIndex - a.ModifyIndex)[0]
    const alloc = newest ? (await nomadCall(() => this.nomad.allocations.info(newest.ID))).data : undefined
    const full = job.TaskGroups ? job : (await nomadCall(() => this.nomad.jobs.info(job.ID))).data
    return { id, job: full, request: storedRequest(job.ID, meta[META.request] as string), createdAt: meta[META.created] ?? '', alloc }
  }

  private async statusInput(l: Loaded): Promise<StatusInput> {
    const evaluations = l.alloc ? [] : (await nomadCall(() => this.nomad.jobs.evaluations(l.job.ID))).data
    const states = Object.values(l.alloc?.TaskStates ?? {})
    const allDead = !!l.alloc && states.every((t) => t.State === 'dead')
    // A node that cannot run the build says why in a file at once; publish, still to run, would delay it.
    const buildSaidWhy = l.alloc?.TaskStates?.build?.Events?.some((e) => e.Type === 'Terminated' && e.ExitCode === INFRASTRUCTURE_EXIT)
    const files = l.alloc && (allDead || buildSaidWhy) ? await readAllocResults(this.nomad, l.alloc.ID, l.request) : undefined
    const nodes = needsNodes(evaluations) ? (await nomadCall(() => this.nomad.nodes.list())).data : undefined
    const nodeLostGrace = { now: Date.now(), ms: this.config.nodeLostGraceMs }
    return { id: l.id, request: l.request, createdAt: l.createdAt, job: l.job, alloc: l.alloc, evaluations, files, nodes, nodeLostGrace }
  }

  /**
   * The status, and the record it came from: a stopped job's record is its verdict (a build failed
   * for its lost node reads so even after the node came back and ran publish), and so is the
   * record of a build whose alloc dir Nomad's client has collected.
   */
  private async statusOf(l: Loaded): Promise<{ status: JobStatus; record?: BuildRecord }> {
    const early = l.job.Stop ? await nomadCall(() => this.records.read(l.id)) : null
    if (early) return { status: early.status, record: early }
    const input = await this.statusInput(l)
    const record = input.files === null ? await nomadCall(() => this.records.read(l.id)) : null
    if (record) return { status: record.status, record }
    const first = deriveStatus(input)
    // The cause is read from the failing task's log: known once the status says which task failed.
    const task = failingTask(first)
    if (!task || !l.alloc) return { status: first }
    const { text } = await taskLog(this.nomad, l.alloc.ID, task.task, TAIL_READ_BYTES)
    return { status: deriveStatus({ ...input, tails: { [task.task]: text } }) }
  }
}

/** What a reconciler pass did: the builds it acted on, and the jobs it could not handle this time. */
export interface PassResult {
  done: string[]
  failed: { job: string; message: string }[]
}

const summaryOf = (s: JobStatus, owner: string | undefined): JobSummary => ({
  id: s.id,
  status: s.status,
  createdAt: s.createdAt,
  ...(s.request.repo ? { repo: s.request.repo } : {}),
  ...(s.request.source ? { source: s.request.source } : {}),
  image: s.request.image,
  ...(s.finishedAt ? { finishedAt: s.finishedAt } : {}),
  ...(s.failure ? { reason: s.failure.reason } : {}),
  ...(s.request.ref ? { ref: s.request.ref } : {}),
  ...(s.request.tags ? { tags: s.request.tags } : {}),
  ...(owner ? { owner } : {}),
  ...(s.queue ? { queue: s.queue } : {}),
})

const phaseOf = (task: string): Phase => (task === 'build' ? 'build' : task === 'publish' ? 'publish' : 'test')

const isServiceNotFound = (e: unknown) => e instanceof ServiceError && e.code === 'not_found'

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
