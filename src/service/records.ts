// Build records: a finished build's final status and the tails of its logs, kept in a Nomad
// Variable so they outlive Nomad's client GC of alloc dirs (gc_max_allocs, disk pressure) and its
// job GC. The reconciler writes each record once; reads only read them.
import { FormatRegistry, type Static, Type as t } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import type { NomadClient } from '../nomad/client'
import { JobStatus } from '../jobs/status-schema'
import { TaskLog } from './schemas'

// Elysia registers the formats when it is loaded; a record is read in processes without it too.
if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (v) => !Number.isNaN(Date.parse(v)))

export const BuildRecord = t.Object({
  status: JobStatus,
  logs: t.Array(TaskLog),
  owner: t.Optional(t.String()),
})
export type BuildRecord = Static<typeof BuildRecord>

// Nomad refuses a variable over 64 KiB; the rest is left for the path and metadata.
const BUDGET_BYTES = 48 * 1024
const TAIL_BYTES = [4096, 1024, 256, 0]

const bytes = (s: string) => Buffer.byteLength(s, 'utf8')

/** The record as one JSON item under the budget: log tails shrink first, then the request keeps only what names the build. */
export function encodeRecord(record: BuildRecord): string {
  for (const tail of TAIL_BYTES) {
    const logs = record.logs.map((l) => {
      const cut = bytes(l.text) > tail
      return { ...l, text: !cut ? l.text : tail === 0 ? '' : Buffer.from(l.text).subarray(-tail).toString('utf8').replace(/^[^\n]*\n?/, ''), truncated: l.truncated || cut }
    })
    const json = JSON.stringify({ ...record, logs })
    if (bytes(json) <= BUDGET_BYTES) return json
  }
  const { repo, image, ref, tags } = record.status.request
  const request = { repo, image, ...(ref ? { ref } : {}), ...(tags ? { tags } : {}) }
  const status = { ...record.status, request, failure: record.status.failure && { ...record.status.failure, logTail: undefined } }
  return JSON.stringify({ ...record, status, logs: record.logs.map((l) => ({ ...l, text: '', truncated: true })) })
}

export class BuildRecords {
  constructor(
    private readonly nomad: NomadClient,
    private readonly prefix: string,
  ) {}

  private path = (id: string) => `${this.prefix}/${id}`
  // Beside the records, under a name no build id has: which node last built each cache key.
  private warmPath = (cacheKey: string) => `${this.prefix}/warm/${cacheKey}`

  /** The ids that have a record. */
  async ids(): Promise<Set<string>> {
    const { data } = await this.nomad.variables.list(`${this.prefix}/`)
    return new Set(data.map((v) => v.Path.slice(this.prefix.length + 1)).filter((id) => !id.includes('/')))
  }

  /** The node whose store last built this cache key (src/jobs/render.ts: cacheKeyOf), if a finished build said so. */
  async warmNode(cacheKey: string): Promise<string | undefined> {
    return (await this.nomad.variables.get(this.warmPath(cacheKey)))?.Items.node
  }

  /** Notes that `node`'s store now holds the layers of `cacheKey`: the next build of it prefers that node. */
  async noteWarmNode(cacheKey: string, node: string): Promise<void> {
    await this.nomad.variables.put(this.warmPath(cacheKey), { node })
  }

  /** A record, or null; one that does not match the schema is an error, never taken as a status. */
  async read(id: string): Promise<BuildRecord | null> {
    const v = await this.nomad.variables.get(this.path(id))
    if (!v) return null
    const value: unknown = JSON.parse(v.Items.record ?? 'null')
    if (!Value.Check(BuildRecord, value)) throw new Error(`the build record ${this.path(id)} is not a record this server can read`)
    return value
  }

  /** Writes the record unless one exists: every replica's reconciler may try, one wins. */
  write(id: string, record: BuildRecord): Promise<boolean> {
    return this.nomad.variables.create(this.path(id), { record: encodeRecord(record) })
  }

  remove(id: string): Promise<void> {
    return this.nomad.variables.delete(this.path(id))
  }
}
