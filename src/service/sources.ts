// Uploaded sources: archives streamed into this replica's bounded spool, each owned by its uploader
// and announced in a Nomad Variable (so any replica can render a build of it), served only to the
// build task that names it, and removed by the reconciler once expired and no live build needs it.
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { closeSync, openSync, writeSync } from 'node:fs'
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { Type as t } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import type { SourceConfig } from '../config'
import { ServiceError } from '../errors'
import type { NomadClient } from '../nomad/client'
import { NomadError } from '../nomad/error'
import { SOURCE_DEST, SOURCE_FILE } from '../jobs/source'
import type { Artifact } from '../nomad/types'
import { archiveKind, checkArchive } from './source-archive'
import type { SourceUpload } from './schemas'

/** What the Variable `<prefix>/<owner>/<hex>` holds: where the archive is, how big, until when. */
const SourceEntry = t.Object({ replica: t.String(), size: t.String(), expiresAt: t.String() })

// Client names never start with "_" (clients.ts), so the anonymous caller cannot collide with one.
const ANONYMOUS = '_'
const MB = 2 ** 20
// An upload still being written, or one abandoned mid-way by a crashed replica.
const TEMP_PREFIX = '.upload-'
const STALE_TEMP_MS = 3600_000
const ANNOUNCE_MS = 60_000
// An archive may unpack to this many times its upload limit, no more.
const EXPANSION = 10

const mb = (bytes: number) => Math.round((bytes / MB) * 10) / 10
const hexOf = (source: string) => source.replace(/^sha256:/, '')

export class SourceSpool {
  constructor(
    private readonly nomad: NomadClient,
    private readonly config: SourceConfig,
    /** The sources that live builds name: they are kept past their expiry, and never evicted. */
    private readonly inUse: () => Promise<Set<string>>,
    private readonly prefix = 'nbs-sources',
  ) {}

  private entryPath = (owner: string | undefined, hex: string) => `${this.prefix}/${owner ?? ANONYMOUS}/${hex}`
  private file = (hex: string) => join(this.config.dir, hex)

  /**
   * Streams the body to disk, hashing as it goes; refuses it as soon as it passes the limit (or at
   * once, when its declared length does), and anything but a tar or tar.gz whose entries all stay
   * in the tree. The same bytes uploaded again are the same source, with a new expiry.
   */
  async receive(body: ReadableStream<Uint8Array> | null, owner: string | undefined, declaredBytes?: number): Promise<SourceUpload> {
    const { maxBytes, spoolBytes } = this.config
    const tooLarge = (bytes: number, sent: string) =>
      new ServiceError('too_large', `body: ${sent} ${bytes} bytes, over the ${mb(maxBytes)} MB a source may have (the server's NBS_SOURCE_MAX_MB): leave out what the build does not need (.dockerignore)`, 'body')
    if (declaredBytes !== undefined && declaredBytes > maxBytes) throw tooLarge(declaredBytes, 'the upload is')
    if (!body) throw new ServiceError('invalid_request', 'body: empty: send a tar or tar.gz of the directory to build', 'body')
    await mkdir(this.config.dir, { recursive: true, mode: 0o700 })
    let used = await this.spoolUsage()
    if (used + (declaredBytes ?? 0) > spoolBytes) used = await this.evict()
    const full = () =>
      new ServiceError(
        'insufficient_storage',
        `body: the server's source spool is full (${mb(used)} of ${mb(spoolBytes)} MB hold uploads that have not expired or that builds still need): try again once builds have started, or ask the operator to raise NBS_SOURCE_SPOOL_MB`,
        'body',
      )
    if (used + (declaredBytes ?? 0) > spoolBytes) throw full()

    const temp = join(this.config.dir, `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`)
    const out = openSync(temp, 'wx', 0o600)
    let writing = true
    const hash = new Bun.CryptoHasher('sha256')
    const head = new Uint8Array(512)
    let size = 0
    const reader = body.getReader()
    try {
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        if (size < head.length) head.set(value.subarray(0, head.length - size), size)
        size += value.length
        if (size > maxBytes) throw tooLarge(size, 'the upload passed')
        if (used + size > spoolBytes) throw full()
        hash.update(value)
        // A synchronous write holds the event loop for the moment it takes, so the socket is not
        // read ahead of the disk: the body never piles up in memory (bench/source.ts: peak RSS).
        writeSync(out, value)
      }
      closeSync(out)
      writing = false
      const kind = archiveKind(head.subarray(0, Math.min(size, head.length)))
      if (!kind)
        throw new ServiceError(
          'invalid_request',
          `body: not a tar or tar.gz archive (${size === 0 ? 'it is empty' : `it starts with ${JSON.stringify(new TextDecoder().decode(head.subarray(0, Math.min(size, 16))))}`}): send the directory as one, e.g. tar -czf - -C DIR . | curl --data-binary @- …/v1/sources, or use nbs upload DIR`,
          'body',
        )
      await checkArchive(temp, kind, maxBytes * EXPANSION)
      const hex = hash.digest('hex')
      await rename(temp, this.file(hex))
      const expiresAt = new Date(Date.now() + this.config.ttlSeconds * 1000).toISOString()
      await this.nomad.variables.put(this.entryPath(owner, hex), { replica: this.config.advertiseUrl, size: String(size), expiresAt })
      return { source: `sha256:${hex}`, size, expiresAt }
    } catch (e) {
      await reader.cancel().catch(() => {})
      // Closed once only: a descriptor number closed twice may by then be another file's.
      if (writing) closeSync(out)
      await rm(temp, { force: true })
      throw e
    }
  }

  /**
   * The artifact block that hands this caller's source to build `buildId`, with a token for that
   * build alone: the replica that holds the archive checks it against the job (serve). Refused,
   * naming `source`, when the caller never uploaded it or it has expired.
   */
  async artifactFor(source: string, owner: string | undefined, buildId: string): Promise<Artifact> {
    const hex = hexOf(source)
    const entry = await this.entry(owner, hex)
    const missing = `source: no upload ${source} of yours is waiting here: upload the directory (nbs upload DIR, or POST /v1/sources), then submit with the id it answers`
    if (!entry) throw new ServiceError('not_found', missing, 'source')
    if (Date.parse(entry.expiresAt) < Date.now())
      throw new ServiceError('not_found', `source: upload ${source} expired at ${entry.expiresAt} (uploads wait ${this.config.ttlSeconds} s for a build): upload the directory again`, 'source')
    return {
      GetterSource: `${entry.replica}/v1/sources/${hex}/${SOURCE_FILE}?build=${encodeURIComponent(buildId)}`,
      GetterOptions: { checksum: `sha256:${hex}`, archive: 'false' },
      GetterHeaders: { Authorization: `Bearer ${randomBytes(24).toString('base64url')}` },
      RelativeDest: SOURCE_DEST,
    }
  }

  /**
   * The archive for a Nomad client fetching it for a build: `expected` is the artifact the build's
   * job names (null: no such live build). The token must be that job's, and the source that job's.
   */
  async serve(hex: string, authorization: string | null, expected: Artifact | null): Promise<Response> {
    const presented = Buffer.from(authorization ?? '')
    const wanted = Buffer.from(expected?.GetterHeaders?.Authorization ?? '')
    const matches = !!expected && presented.length === wanted.length && timingSafeEqual(presented, wanted)
    if (!matches || expected?.GetterOptions?.checksum !== `sha256:${hex}`)
      return new Response('this source is served only to the build that names it, while it runs\n', { status: 403 })
    const file = Bun.file(this.file(hex))
    if (!(await file.exists())) return new Response(`source sha256:${hex} is not on this replica (expired, or the replica lost its spool)\n`, { status: 404 })
    return new Response(file, { headers: { 'content-type': 'application/octet-stream' } })
  }

  /**
   * Removes this replica's expired sources that no live build names (their file and their entry),
   * upload leftovers, and files no entry announces. Returns the bytes the spool holds after.
   */
  async evict(): Promise<number> {
    const inUse = await this.inUse()
    const announced = new Set<string>()
    const dropped = new Set<string>()
    const now = Date.now()
    for (const meta of (await this.nomad.variables.list(`${this.prefix}/`)).data) {
      const hex = meta.Path.split('/').pop() ?? ''
      const entry = await this.entryAt(meta.Path)
      if (!entry || entry.replica !== this.config.advertiseUrl) continue
      if (Date.parse(entry.expiresAt) >= now || inUse.has(`sha256:${hex}`)) {
        announced.add(hex)
        continue
      }
      await this.nomad.variables.delete(meta.Path)
      dropped.add(hex)
    }
    let used = 0
    for (const name of await readdir(this.config.dir).catch(() => [] as string[])) {
      const path = join(this.config.dir, name)
      const info = await stat(path).catch(() => undefined)
      if (!info) continue
      // A file just received is announced a moment after it lands: not an orphan yet.
      const stale = name.startsWith(TEMP_PREFIX)
        ? now - info.mtimeMs > STALE_TEMP_MS
        : !announced.has(name) && (dropped.has(name) || now - info.mtimeMs > ANNOUNCE_MS)
      if (stale) await rm(path, { force: true })
      else used += info.size
    }
    return used
  }

  private async spoolUsage(): Promise<number> {
    let used = 0
    for (const name of await readdir(this.config.dir).catch(() => [] as string[]))
      used += (await stat(join(this.config.dir, name)).catch(() => undefined))?.size ?? 0
    return used
  }

  private entry = (owner: string | undefined, hex: string) => this.entryAt(this.entryPath(owner, hex))

  private async entryAt(path: string) {
    try {
      const v = await this.nomad.variables.get(path)
      return v && Value.Check(SourceEntry, v.Items) ? v.Items : undefined
    } catch (e) {
      if (e instanceof NomadError && e.notFound) return undefined
      throw e
    }
  }
}
