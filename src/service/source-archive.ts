// An uploaded archive is hostile until proven otherwise: every entry is checked before any build may use it.
import { createReadStream } from 'node:fs'
import { createGunzip } from 'node:zlib'
import { extract, type Header } from 'tar-stream'
import { ServiceError } from '../errors'

/** What the first bytes say the upload is; undefined: neither gzip nor tar. */
export function archiveKind(head: Uint8Array): 'gzip' | 'tar' | undefined {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip'
  // POSIX ustar and GNU tar both carry "ustar" at offset 257 of the first header.
  if (head.length >= 262 && new TextDecoder().decode(head.subarray(257, 262)) === 'ustar') return 'tar'
  return undefined
}

const refuse = (message: string) => new ServiceError('invalid_request', `body: ${message}`, 'body')

/** The entry's path as the unpacker will write it, refused where it would land outside the tree. */
function entryPath(h: Header): string {
  const name = h.name.replace(/^(\.\/)+/, '').replace(/\/+$/, '')
  if (h.name.startsWith('/')) throw refuse(`entry ${JSON.stringify(h.name)} is an absolute path: pack the directory with paths relative to it (tar -C DIR .)`)
  if (name.split('/').includes('..')) throw refuse(`entry ${JSON.stringify(h.name)} has a .. part: it would land outside the directory`)
  return name
}

const kinds: Record<string, string> = {
  link: 'a hard link (pack the file itself: tar --hard-dereference)',
  'character-device': 'a character device',
  'block-device': 'a block device',
  fifo: 'a fifo',
}

/**
 * Reads the whole archive and throws a ServiceError naming the first entry a build must not
 * unpack: an absolute path or a .. part, a hard link, a device or a fifo, a file written through a
 * symlink the archive made earlier (it could point anywhere on the node), or more than `maxBytes`
 * unpacked (a small gzip can expand a thousandfold). Symlinks themselves are kept: the build's
 * path checks then refuse a context or Dockerfile that leads out of the tree, as for a clone.
 */
export async function checkArchive(file: string, kind: 'gzip' | 'tar', maxBytes: number): Promise<{ entries: number; bytes: number }> {
  const raw = createReadStream(file)
  const tar = extract()
  const input = kind === 'gzip' ? raw.pipe(createGunzip()) : raw
  input.on('error', (e) => tar.destroy(e))
  input.pipe(tar)
  const symlinks = new Set<string>()
  let entries = 0
  let bytes = 0
  try {
    for await (const entry of tar) {
      const h = entry.header
      const path = entryPath(h)
      const parts = path.split('/')
      for (let i = 1; i < parts.length; i++) {
        const parent = parts.slice(0, i).join('/')
        if (symlinks.has(parent)) throw refuse(`entry ${JSON.stringify(h.name)} is written through ${parent}, a symlink earlier in the archive`)
      }
      const kind = kinds[h.type ?? 'file']
      if (kind) throw refuse(`entry ${JSON.stringify(h.name)} is ${kind}; only files, directories and symlinks are unpacked`)
      if (h.type === 'symlink') symlinks.add(path)
      else symlinks.delete(path)
      entries++
      bytes += h.size ?? 0
      if (bytes > maxBytes) throw refuse(`the archive unpacks to more than ${Math.round(maxBytes / 2 ** 20)} MB, the most a source may hold`)
      entry.resume()
      await new Promise<void>((resolve) => entry.on('end', () => resolve()))
    }
  } catch (e) {
    input.destroy()
    if (e instanceof ServiceError) throw e
    throw refuse(`not a valid ${kind === 'gzip' ? 'tar.gz' : 'tar'} archive (${e instanceof Error ? e.message : String(e)})`)
  }
  if (entries === 0) throw refuse('the archive holds no files')
  return { entries, bytes }
}
