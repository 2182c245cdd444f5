// A directory → a tar.gz of what Buildah sees of it as a build context, streamed file by file.
import { createReadStream, type Stats } from 'node:fs'
import { lstat, readdir, readFile, readlink } from 'node:fs/promises'
import { join, posix } from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGzip } from 'node:zlib'
import ignore from '@balena/dockerignore'
import { type Header, pack as tarPack } from 'tar-stream'
import { ServiceError } from '../errors'
import { relativePathPattern } from '../jobs/request'

export interface PackOptions {
  /** The build context, a sub-directory of the one packed: only it is sent (under its own path), filtered by its own ignore file. */
  context?: string
  /** The Dockerfile's path inside the context: sent even when the ignore file names it, as Buildah reads it from the tree. */
  dockerfile?: string
  /** Send .git directories (left out by default: history the build does not need, often the largest part of a tree). */
  includeGit?: boolean
  /** Told of each entry left out because a tar of a build context cannot hold it (sockets, fifos, devices). */
  onSkip?: (path: string, why: string) => void
}

export interface PackedTree {
  /** The tar.gz, produced as it is read: at most one file is open at a time. */
  stream: ReadableStream<Uint8Array>
  /** Settles once the walk is over: the entries and file bytes packed, or why it stopped. */
  done: Promise<{ entries: number; bytes: number }>
}

/**
 * The ignore files Buildah 1.28 reads from the context directory, first found wins: .containerignore,
 * then .dockerignore (containers/buildah's ContainerIgnoreFile; podman's .containerignore(5)).
 */
export const IGNORE_FILES = ['.containerignore', '.dockerignore'] as const
// build.sh's default when the request names no Dockerfile: Dockerfile, else Containerfile.
const DEFAULT_DOCKERFILES = ['Dockerfile', 'Containerfile']

// tar-stream's argument to pack.entry: every field but the name may be left to its default.
type EntryHeader = Partial<Header> & Pick<Header, 'name'>

const fail = (message: string) => new ServiceError('invalid_request', message, 'source')

const kindOf = (s: Stats): string | undefined =>
  s.isSocket() ? 'a socket' : s.isFIFO() ? 'a fifo' : s.isCharacterDevice() ? 'a character device' : s.isBlockDevice() ? 'a block device' : undefined

/** The rules of the context's ignore file, or none; `keep` holds the paths sent whatever the rules say. */
async function contextRules(root: string, dockerfile?: string) {
  const rules = ignore({ ignorecase: false })
  const keep = new Set(dockerfile ? [dockerfile] : DEFAULT_DOCKERFILES)
  let exceptions = false
  for (const name of IGNORE_FILES) {
    const text = await readFile(join(root, name), 'utf8').catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined
      throw fail(`cannot read ${join(root, name)}: ${e.message}`)
    })
    if (text === undefined) continue
    rules.add(text)
    keep.add(name)
    exceptions = text.split(/\r?\n/).some((l) => l.trim().startsWith('!'))
    break
  }
  return { rules, keep, exceptions }
}

/**
 * Packs `dir` (or its `context` sub-directory) the way a build context is sent: entries relative to
 * `dir`, modes and mtimes kept, owners not (the build unpacks as its own user), symlinks stored as
 * symlinks, hard-linked files stored whole each time, the ignore file's rules applied as Buildah
 * applies them (moby's patternmatcher: `**`, `!` exceptions, a pattern matching a directory takes
 * what is below it), .git left out unless asked for.
 */
export function packDirectory(dir: string, options: PackOptions = {}): PackedTree {
  const tar = tarPack()
  const gzip = createGzip()
  const done = (async () => {
    let entries = 0
    let bytes = 0
    const prefix = posix.normalize(options.context ?? '.').replace(/\/+$/, '').replace(/^\.$/, '')
    if (!new RegExp(relativePathPattern).test(prefix) || prefix.startsWith('../'))
      throw new ServiceError('invalid_request', `context: ${JSON.stringify(options.context)} must be a sub-directory of the directory sent, e.g. services/api`, 'context')
    const root = prefix ? join(dir, prefix) : dir
    const top = await lstat(root).catch((e: NodeJS.ErrnoException) => {
      throw fail(`cannot read ${root}: ${e.code === 'ENOENT' ? 'no such directory' : e.message}`)
    })
    if (!top.isDirectory()) throw fail(`${root} is not a directory`)
    const { rules, keep, exceptions } = await contextRules(root, options.dockerfile)
    const write = (header: EntryHeader, body?: Readable) =>
      new Promise<void>((resolve, reject) => {
        const sink = tar.entry(header, (e) => (e ? reject(e) : resolve()))
        if (body) body.on('error', reject).pipe(sink)
      })
    const header = (name: string, s: Stats): EntryHeader => ({ name, mode: s.mode & 0o7777, mtime: s.mtime, uid: 0, gid: 0 })
    // Directories an ignored directory's kept descendants need, written only when one of those is.
    const pending: { name: string; stat: Stats }[] = []
    const flush = async () => {
      for (const d of pending.splice(0)) {
        await write({ ...header(d.name, d.stat), type: 'directory' })
        entries++
      }
    }

    // The context's own parent directories first, so that the unpacked tree has their modes.
    const parts = prefix ? prefix.split('/') : []
    for (let i = 1; i <= parts.length; i++) {
      const name = parts.slice(0, i).join('/')
      await write({ ...header(name, await lstat(join(dir, name))), type: 'directory' })
      entries++
    }

    const walk = async (rel: string): Promise<void> => {
      const names = (await readdir(rel ? join(root, rel) : root)).sort()
      for (const name of names) {
        const path = rel ? `${rel}/${name}` : name
        const full = join(root, path)
        const entryName = prefix ? `${prefix}/${path}` : path
        if (name === '.git' && !options.includeGit) continue
        const s = await lstat(full)
        const ignored = rules.ignores(path) && !keep.has(path)
        if (s.isDirectory()) {
          if (!ignored) {
            await flush()
            await write({ ...header(entryName, s), type: 'directory' })
            entries++
            await walk(path)
            continue
          }
          // moby's archive walk skips an ignored directory unless an exception may take back something
          // below it; a kept Dockerfile below it counts as one.
          const keepsBelow = [...keep].some((k) => k.startsWith(`${path}/`))
          if (!exceptions && !keepsBelow) continue
          pending.push({ name: entryName, stat: s })
          const before = pending.length
          await walk(path)
          // Nothing below was written: this directory stays out with it.
          if (pending.length >= before) pending.splice(before - 1)
          continue
        }
        if (ignored) continue
        const kind = kindOf(s)
        if (kind) {
          options.onSkip?.(entryName, kind)
          continue
        }
        await flush()
        if (s.isSymbolicLink()) await write({ ...header(entryName, s), type: 'symlink', linkname: await readlink(full) })
        else {
          await write({ ...header(entryName, s), type: 'file', size: s.size }, createReadStream(full)).catch((e: Error) => {
            // tar-stream checks the bytes against the size in the header.
            throw fail(`${full} changed while it was packed (${e.message}): pack it again once it is written`)
          })
          bytes += s.size
        }
        entries++
      }
    }
    await walk('')
    tar.finalize()
    return { entries, bytes }
  })().catch((e: Error) => {
    throw e instanceof ServiceError ? e : fail(`cannot pack ${dir}: ${e.message}`)
  })
  // A walk that fails ends the stream with its error, so an upload in flight stops; `done` says why.
  done.catch((e) => tar.destroy(e))
  pipeline(tar, gzip).catch(() => {})
  // Pulled, not pushed: the walk reads the next file only as fast as the upload takes the bytes.
  const chunks = gzip[Symbol.asyncIterator]()
  const stream = new ReadableStream<Uint8Array>({
    async pull(out) {
      const { done, value } = await chunks.next()
      if (done) out.close()
      else out.enqueue(value as Uint8Array)
    },
    cancel: (reason) => void gzip.destroy(reason instanceof Error ? reason : undefined),
  })
  return { stream, done }
}
