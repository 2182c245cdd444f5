// Agent reachability: the leader answer is the cheapest proof that the API works.
import type { NomadClient } from './client'

export class Status {
  constructor(private readonly c: NomadClient) {}

  async leader(): Promise<string> {
    return (await this.c.read<string>('/v1/status/leader')).data
  }
}
