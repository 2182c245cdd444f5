// Nomad evaluations: where placement failures (FailedTGAllocs) are reported.
import type { NomadClient, QueryOptions, Read } from './client'
import type { Evaluation } from './types'

export class Evaluations {
  constructor(private readonly c: NomadClient) {}

  info(id: string, q?: QueryOptions): Promise<Read<Evaluation>> {
    return this.c.read(`/v1/evaluation/${encodeURIComponent(id)}`, q)
  }
}
