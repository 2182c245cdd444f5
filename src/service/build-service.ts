// The service's operations, transport-free: every surface (MCP, REST, CLI) calls these and nothing else.
import type { Config } from '../config'
import { ServiceError } from '../errors'
import { JOB_PREFIX, META, newBuildId, nomadJobId } from '../jobs/ids'
import { cacheKeyOf, renderJob } from '../jobs/render'
import { destinations } from '../jobs/plan'
import { buildSucceeded } from '../jobs/status'
import { isFinal, type JobStatus } from '../jobs/status-schema'
import { validateRequest } from '../jobs/validate'
import type { NomadClient } from '../nomad/client'
import type { JobListStub } from '../nomad/types'
import { followLogs, readLogs } from './build-logs'
import { BuildReader, isServiceNotFound, sourceNamed, statusOf } from './build-read'
import { admit, type Caller } from './caller'
import { cleanup } from './cleanup'
import { type LogChunk, LogFollower } from './follow-logs'
import { listJobs } from './job-list'
import { nomadCall } from './nomad-call'
import { type PassResult, recordFinishedJobs, stopStuckJobs } from './reconciler-passes'
import { BuildRecords } from './records'
import { runInBuildImage } from './run-in-image'
import type {
  CleanupQuery,
  CleanupResult,
  JobList,
  ListQuery,
  Logs,
  LogsQuery,
  RunRequest,
  RunResult,
  ServerInfo,
  SourceUpload,
  SubmitResult,
  WaitQuery,
} from './schemas'
import { serverInfo } from './server-info'
import { SourceSpool } from './sources'
import { SETTLE_SECONDS, waitLoop } from './wait'

/** How many of the newest builds of the same source submit looks at for the node that built it. */
const WARM_LOOKBACK = 3

export type { Caller } from './caller'
export type { PassResult } from './reconciler-passes'

export class BuildService {
  private readonly follower: LogFollower
  private readonly records: BuildRecords
  private readonly reader: BuildReader
  private readonly sources: SourceSpool

  constructor(
    private readonly nomad: NomadClient,
    private readonly config: Config,
  ) {
    this.follower = new LogFollower(nomad)
    this.records = new BuildRecords(nomad, config.recordsPrefix)
    this.reader = new BuildReader(nomad, this.records, config)
    this.sources = new SourceSpool(nomad, config.sources, () => this.sourcesInUse())
  }

  async submitJob(input: unknown, caller: Caller = {}): Promise<SubmitResult> {
    const request = validateRequest(input, {
      allowInsecureGit: this.config.allowInsecureGit,
      secretPrefixes: caller.secretPrefixes ?? this.config.secretPrefixes,
      sshHostKeyChecking: this.config.sshHostKeyChecking,
    })
    // One list of the jobs for both the in-flight limit and the warm node.
    const { data: jobs } = await nomadCall(() => this.nomad.jobs.list(JOB_PREFIX))
    await admit(this.nomad, this.config, caller, jobs)
    const id = newBuildId()
    const createdAt = new Date()
    const source = request.source ? await nomadCall(() => this.sources.artifactFor(request.source as string, caller.owner, id)) : undefined
    const warmNode = await this.warmNode(cacheKeyOf(request, caller.owner), jobs)
    const job = renderJob({ id, request, createdAt, owner: caller.owner, source, warmNode }, this.config)
    await nomadCall(() => this.nomad.jobs.register(job, { enforceIndex: 0 }))
    return { id, status: 'PENDING', createdAt: createdAt.toISOString(), images: destinations(id, request) }
  }

  async getStatus(id: string, caller: Caller = {}): Promise<JobStatus> {
    return statusOf(await this.reader.read(id, caller))
  }

  async getLogs(q: LogsQuery, caller: Caller = {}): Promise<Logs> {
    return readLogs(this.reader, q, caller)
  }

  /** Streams the selected tasks' output as it is written, until each has ended and its log is read. */
  followLogs(q: Omit<LogsQuery, 'tail'>, caller: Caller = {}, signal?: AbortSignal): AsyncGenerator<LogChunk> {
    return followLogs(this.reader, this.follower, q, caller, signal)
  }

  async killJob(id: string, caller: Caller = {}): Promise<JobStatus> {
    const snapshot = await this.reader.read(id, caller)
    const status = statusOf(snapshot)
    const job = snapshot.build?.job
    // An infrastructure failure can leave the job waiting in Nomad (a placement, a secret): stopping it is still a kill.
    if (!job || (isFinal(status.status) && (status.failure?.reason !== 'infrastructure' || job.Stop)))
      throw new ServiceError('conflict', `id: job ${id} has already finished (${status.status}); nothing to kill`, 'id')
    // Once the push has begun the kill could only cut it short: the registry would hold some
    // tags of a job that reads as killed.
    if (status.status === 'PUBLISHING')
      throw new ServiceError('conflict', `id: job ${id} is publishing; a push is not interrupted: wait for it to finish, then remove the tags you do not want`, 'id')
    await nomadCall(() => this.nomad.jobs.deregister(job.ID))
    // Nomad stops the tasks, then runs publish (poststop), which declines: the answer waits for them.
    return this.waitForJob({ id, until: 'final', timeoutSeconds: SETTLE_SECONDS }, caller)
  }

  cleanup(q: CleanupQuery, caller: Caller = {}): Promise<CleanupResult> {
    return cleanup(this.reader, q, caller)
  }

  listJobs(q: ListQuery = {}, caller: Caller = {}): Promise<JobList> {
    return listJobs(this.reader, q, caller)
  }

  /**
   * The node whose store last built `cacheKey`: that of the newest build Nomad still has whose build
   * phase succeeded, else the one the records noted. The reconciler notes a node only once it has
   * recorded the build, which an agent resubmitting at once can beat; Nomad knows already.
   */
  private async warmNode(cacheKey: string, jobs: JobListStub[]): Promise<string | undefined> {
    const same = jobs.filter((j) => j.Meta?.[META.cacheKey] === cacheKey)
    // Newest first: a build id begins with its creation time.
    for (const job of same.sort((a, b) => (a.ID < b.ID ? 1 : -1)).slice(0, WARM_LOOKBACK)) {
      const { data: allocs } = await nomadCall(() => this.nomad.jobs.allocations(job.ID))
      const built = allocs.find(buildSucceeded)
      if (built) return built.NodeID
    }
    return nomadCall(() => this.records.warmNode(cacheKey))
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

  /** The reconciler's first duty (src/service/reconciler.ts): stop what would wait for ever, or on a lost node. */
  stopStuckJobs(): Promise<PassResult> {
    return stopStuckJobs(this.reader)
  }

  /** The reconciler's second duty: a record of every finished build. */
  recordFinishedJobs(): Promise<PassResult> {
    return recordFinishedJobs(this.reader)
  }

  /** One bounded command in an ended build's image (or its last good step's), on the node that holds it. */
  async runInImage(id: string, run: RunRequest, caller: Caller = {}, signal?: AbortSignal): Promise<RunResult> {
    const found = await this.reader.locate(id, caller)
    if (found.kind === 'recorded')
      throw new ServiceError('not_found', `id: Nomad has collected job ${id}, and with it where its image is: resubmit the build to look inside it`, 'id')
    await admit(this.nomad, this.config, caller)
    const status = statusOf(await this.reader.snapshot(found.build))
    return runInBuildImage(this.nomad, this.config, { id, owner: caller.owner, status, alloc: found.build.alloc }, run, signal)
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
    const live = (await this.reader.ownJobs({})).filter((j) => !j.Stop && j.Status !== 'dead')
    return new Set(live.map(sourceNamed).filter((s): s is string => s !== undefined))
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
}
