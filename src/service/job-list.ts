// The caller's builds, newest first: those Nomad still has and those only a record tells of alike.
import { buildIdOf, META } from '../jobs/ids'
import type { JobStatus } from '../jobs/status-schema'
import type { JobListStub } from '../nomad/types'
import { type BuildReader, statusOf } from './build-read'
import type { Caller } from './caller'
import { nomadCall } from './nomad-call'
import type { JobList, JobSummary, ListQuery } from './schemas'

export async function listJobs(reader: BuildReader, q: ListQuery, caller: Caller): Promise<JobList> {
  const jobs = new Map((await reader.ownJobs(caller)).map((j) => [buildIdOf(j.ID) as string, j]))
  const recorded = await nomadCall(() => reader.records.ids())
  // A build id begins with its creation time.
  const ids = [...jobs.keys(), ...[...recorded].filter((id) => !jobs.has(id))].sort().reverse()
  const limit = q.limit ?? 50
  const out: JobSummary[] = []
  for (const id of ids) {
    if (out.length >= limit) break
    const listed = await listedStatus(reader, id, jobs.get(id), recorded.has(id), caller)
    if (listed && (!q.status || listed.status.status === q.status)) out.push(summaryOf(listed.status, listed.owner))
  }
  return { jobs: out }
}

/**
 * A listed build's status and owner. A finished build's record says what walking its job through
 * Nomad would, in one read instead of ten; a build still running has no record yet.
 */
async function listedStatus(
  reader: BuildReader,
  id: string,
  stub: JobListStub | undefined,
  hasRecord: boolean,
  caller: Caller,
): Promise<{ status: JobStatus; owner?: string } | undefined> {
  if (stub && !(stub.Status === 'dead' && hasRecord)) {
    const build = await reader.liveJob(stub, caller).catch(() => undefined)
    return build && { status: statusOf(await reader.snapshot(build)), owner: stub.Meta?.[META.owner] }
  }
  const record = await reader.callersRecord(id, caller)
  return record && { status: record.status, owner: record.owner }
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
