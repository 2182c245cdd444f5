// Nomad allocations: the full allocation (with task states) behind a job's list stubs.
import type { NomadClient, QueryOptions, Read } from './client'
import type { Allocation } from './types'

export class Allocations {
  constructor(private readonly c: NomadClient) {}

  /** Every allocation's stub: its index moves whenever any allocation changes. */
  list(q?: QueryOptions): Promise<Read<Allocation[]>> {
    return this.c.read('/v1/allocations', q)
  }

  info(id: string, q?: QueryOptions): Promise<Read<Allocation>> {
    return this.c.read(`/v1/allocation/${encodeURIComponent(id)}`, q)
  }
}
