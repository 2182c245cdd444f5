// Packs a local directory and streams it to the server's spool: `nbs upload`, `nbs submit DIR`, sourcePath over stdio MCP.
import { isServiceError, ServiceError } from '../errors'
import type { BuildApi } from '../service/api'
import type { SourceUpload } from '../service/schemas'
import { packDirectory, type PackOptions } from './pack'

const MB = 2 ** 20

/** 1234567 → "1.2 MB": the sizes a person reads in progress lines. */
export function humanSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  if (bytes < MB) return `${(bytes / 1024).toFixed(1)} KB`
  if (bytes < 1024 * MB) return `${(bytes / MB).toFixed(1)} MB`
  return `${(bytes / 1024 / MB).toFixed(2)} GB`
}

export interface UploadOptions extends PackOptions {
  /** Called as compressed bytes go out, with the total so far. */
  onProgress?: (sent: number) => void
}

/**
 * Packs `dir` and uploads it; the answer carries the id to give as `source`. The server's refusal
 * wins (its early answer cuts the walk short), then a packing failure (which cuts the stream short,
 * and that reads as a network error). `name` is how the caller
 * named the directory (--source, the file's source, sourcePath): the server's refusals of the body
 * (too large, spool full) are said in those words.
 */
export async function uploadDirectory(api: BuildApi, dir: string, name: string, options: UploadOptions = {}): Promise<SourceUpload> {
  const packed = packDirectory(dir, options)
  let sent = 0
  const counted = packed.stream.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, out) {
        sent += chunk.length
        options.onProgress?.(sent)
        out.enqueue(chunk)
      },
    }),
  )
  const [upload, walk] = await Promise.allSettled([api.uploadSource(counted), packed.done])
  if (upload.status === 'fulfilled' && walk.status === 'fulfilled') return upload.value
  const e: unknown = upload.status === 'rejected' ? upload.reason : undefined
  const answered = isServiceError(e) && e.code !== 'server_unavailable'
  throw named(!answered && walk.status === 'rejected' ? walk.reason : e, name)
}

/** The packer's and the server's words for the directory (source, body) → the caller's (--source, sourcePath). */
function named(e: unknown, name: string): unknown {
  if (!isServiceError(e) || (e.field !== 'source' && e.field !== 'body')) return e
  return new ServiceError(e.code, `${name}: ${e.message.replace(/^body: /, '')}`, name, undefined, e.retryAfter)
}

/**
 * Progress for a person on stderr: nothing for a small tree; past 8 MB a line that updates itself
 * on a terminal, else a line every 64 MB (a CI log stays short).
 */
export function progressReporter(stream: NodeJS.WriteStream = process.stderr): { onProgress: (sent: number) => void; end: () => void } {
  const quiet = 8 * MB
  const step = stream.isTTY ? MB : 64 * MB
  let shown = 0
  return {
    onProgress: (sent) => {
      if (sent < quiet || sent - shown < step) return
      shown = sent
      stream.write(stream.isTTY ? `\ruploading: ${humanSize(sent)} sent` : `uploading: ${humanSize(sent)} sent\n`)
    },
    end: () => {
      if (shown && stream.isTTY) stream.write('\n')
    },
  }
}
