// Nomad Variables: secret values the job templates read with nomadVar; the service itself writes them only in tests and dev.
import type { NomadClient } from './client'
import type { Variable } from './types'

const varPath = (path: string) => `/v1/var/${path.split('/').map(encodeURIComponent).join('/')}`

export class Variables {
  constructor(private readonly c: NomadClient) {}

  put(path: string, items: Record<string, string>): Promise<Variable> {
    return this.c.write('PUT', varPath(path), { Path: path, Items: items })
  }

  delete(path: string): Promise<void> {
    return this.c.write('DELETE', varPath(path))
  }
}
