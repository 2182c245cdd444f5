// Nomad Variables: secret values the job templates read with nomadVar (the service writes those
// only in tests and dev), and the service's own build records.
import type { NomadClient, QueryOptions, Read } from './client'
import { NomadError } from './error'
import type { Variable, VariableMetadata } from './types'

const varPath = (path: string) => `/v1/var/${path.split('/').map(encodeURIComponent).join('/')}`

export class Variables {
  constructor(private readonly c: NomadClient) {}

  put(path: string, items: Record<string, string>): Promise<Variable> {
    return this.c.write('PUT', varPath(path), { Path: path, Items: items })
  }

  /** Writes the variable only if it does not exist yet (check-and-set on index 0); false when it did. */
  async create(path: string, items: Record<string, string>): Promise<boolean> {
    const res = await this.c.raw('PUT', varPath(path), { query: { cas: 0 }, body: { Path: path, Items: items }, expect: [200, 409] })
    await res.body?.cancel()
    return res.status === 200
  }

  /** The variable with its items; null when there is none. */
  async get(path: string): Promise<Variable | null> {
    try {
      return (await this.c.read<Variable>(varPath(path))).data
    } catch (e) {
      if (e instanceof NomadError && e.notFound) return null
      throw e
    }
  }

  /** Metadata (no items) of every variable under the prefix. */
  list(prefix: string, q?: QueryOptions): Promise<Read<VariableMetadata[]>> {
    return this.c.read('/v1/vars', q, { prefix })
  }

  delete(path: string): Promise<void> {
    return this.c.send('DELETE', varPath(path))
  }
}
