// Nomad jobs: register (check-and-set), read, list, stop, purge, and the job's allocations and evaluations.
import type { NomadClient, QueryOptions, Read } from './client'
import type { Allocation, Evaluation, Job, JobListStub, RegisterResponse } from './types'

const jobPath = (id: string) => `/v1/job/${encodeURIComponent(id)}`

export class Jobs {
  constructor(private readonly c: NomadClient) {}

  /** With `enforceIndex: 0`, Nomad refuses a job that exists already: a create that cannot overwrite. */
  register(job: Job, opts: { enforceIndex?: number } = {}): Promise<RegisterResponse> {
    const body =
      opts.enforceIndex === undefined ? { Job: job } : { Job: job, EnforceIndex: true, JobModifyIndex: opts.enforceIndex }
    return this.c.write('PUT', '/v1/jobs', body)
  }

  validate(job: Job): Promise<{ ValidationErrors: string[] | null; Error: string; Warnings: string }> {
    return this.c.write('PUT', '/v1/validate/job', { Job: job })
  }

  info(id: string, q?: QueryOptions): Promise<Read<Job>> {
    return this.c.read(jobPath(id), q)
  }

  list(prefix: string, q?: QueryOptions): Promise<Read<JobListStub[]>> {
    return this.c.read('/v1/jobs', q, { prefix, meta: true })
  }

  allocations(id: string, q?: QueryOptions): Promise<Read<Allocation[]>> {
    return this.c.read(`${jobPath(id)}/allocations`, q, { all: true })
  }

  evaluations(id: string, q?: QueryOptions): Promise<Read<Evaluation[]>> {
    return this.c.read(`${jobPath(id)}/evaluations`, q)
  }

  /** Stops the job; Nomad still runs the group's poststop tasks afterwards. */
  deregister(id: string, opts: { purge?: boolean } = {}): Promise<{ EvalID: string }> {
    return this.c.write('DELETE', jobPath(id), undefined, { purge: opts.purge || undefined })
  }
}
