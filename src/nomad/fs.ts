// The client filesystem API: task logs (plain text, tail, follow) and files in the alloc dir.
import type { NomadClient } from './client'

export type LogType = 'stdout' | 'stderr'

export interface LogOptions {
  /** Only the last `tailBytes` bytes (origin=end). */
  tailBytes?: number
  follow?: boolean
  signal?: AbortSignal
}

export class AllocFS {
  constructor(private readonly c: NomadClient) {}

  private logsResponse(allocId: string, task: string, type: LogType, o: LogOptions): Promise<Response> {
    return this.c.raw('GET', `/v1/client/fs/logs/${encodeURIComponent(allocId)}`, {
      query: {
        task,
        type,
        plain: true,
        follow: o.follow || undefined,
        origin: o.tailBytes === undefined ? 'start' : 'end',
        offset: o.tailBytes ?? 0,
      },
      signal: o.signal,
    })
  }

  async logs(allocId: string, task: string, type: LogType, o: Omit<LogOptions, 'follow'> = {}): Promise<string> {
    return (await this.logsResponse(allocId, task, type, o)).text()
  }

  /** Streams a task's log while it runs; the stream ends when the task does. */
  async *follow(allocId: string, task: string, type: LogType, o: Omit<LogOptions, 'follow'> = {}): AsyncGenerator<string> {
    const res = await this.logsResponse(allocId, task, type, { ...o, follow: true })
    if (!res.body) return
    const decoder = new TextDecoder()
    for await (const chunk of res.body) yield decoder.decode(chunk, { stream: true })
  }

  /** A file under the alloc root, e.g. `alloc/digest`; null when it does not exist. */
  async cat(allocId: string, path: string): Promise<string | null> {
    const res = await this.c.raw('GET', `/v1/client/fs/cat/${encodeURIComponent(allocId)}`, {
      query: { path },
      expect: [200, 404, 500],
    })
    // Nomad answers a missing file with 500 "no such file or directory" (or 404 on some versions).
    if (res.status !== 200) {
      await res.body?.cancel()
      return null
    }
    return res.text()
  }
}
