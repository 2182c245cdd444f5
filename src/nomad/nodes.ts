// Nomad nodes: what each can hold, to tell a build that waits for capacity from one that never fits.
import type { NomadClient, QueryOptions, Read } from './client'
import type { NodeListStub } from './types'

export class Nodes {
  constructor(private readonly c: NomadClient) {}

  /** Every node with its NodeResources and ReservedResources (`?resources=true`). */
  list(q?: QueryOptions): Promise<Read<NodeListStub[]>> {
    return this.c.read('/v1/nodes', q, { resources: true })
  }
}
