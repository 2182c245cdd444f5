// Archives made entry by entry, hostile ones included, for the upload tests.
import { gzipSync } from 'node:zlib'
import { pack } from 'tar-stream'

export type Entry =
  | { name: string; type?: 'file'; text: string | Uint8Array; mode?: number }
  | { name: string; type: 'directory' }
  | { name: string; type: 'symlink' | 'link'; target: string }
  | { name: string; type: 'fifo' }

/** A tar of the entries, in order; gzipped unless `gzip: false`. */
export async function tarball(entries: Entry[], gzip = true): Promise<Uint8Array<ArrayBuffer>> {
  const p = pack()
  for (const e of entries) {
    if ('text' in e) p.entry({ name: e.name, mode: e.mode ?? 0o644 }, typeof e.text === 'string' ? e.text : Buffer.from(e.text))
    else if (e.type === 'directory') p.entry({ name: e.name, type: 'directory', mode: 0o755 })
    else if (e.type === 'fifo') p.entry({ name: e.name, type: 'fifo', mode: 0o644 })
    else p.entry({ name: e.name, type: e.type, linkname: e.target })
  }
  p.finalize()
  const chunks: Buffer[] = []
  for await (const c of p) chunks.push(c as Buffer)
  const tar = Buffer.concat(chunks)
  return new Uint8Array(gzip ? gzipSync(tar) : tar) as Uint8Array<ArrayBuffer>
}

export const sha256 = (bytes: Uint8Array) => new Bun.CryptoHasher('sha256').update(bytes).digest('hex')
