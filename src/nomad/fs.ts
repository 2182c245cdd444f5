// The client filesystem API: task logs (plain text, tail, follow) and files in the alloc dir.
import type { NomadClient } from './client'
import { NomadError } from './error'

export type LogType = 'stdout' | 'stderr'

export interface LogOptions {
  /** Only the last `tailBytes` bytes (origin=end). */
  tailBytes?: number
  /** Start this many bytes into the log (origin=start); ignored with `tailBytes`. */
  fromByte?: number
  follow?: boolean
  signal?: AbortSignal
}

/** One entry of `fs/ls`, as api.AllocFileInfo. */
export interface AllocFileInfo {
  Name: string
  IsDir: boolean
  Size: number
  FileMode: string
  ModTime: string
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
        offset: o.tailBytes ?? o.fromByte ?? 0,
      },
      signal: o.signal,
    })
  }

  async logs(allocId: string, task: string, type: LogType, o: Omit<LogOptions, 'follow'> = {}): Promise<string> {
    return (await this.logsResponse(allocId, task, type, o)).text()
  }

  async logBytes(allocId: string, task: string, type: LogType, o: Omit<LogOptions, 'follow'> = {}): Promise<Uint8Array> {
    return new Uint8Array(await (await this.logsResponse(allocId, task, type, o)).arrayBuffer())
  }

  /**
   * Nomad's follow stream as raw bytes. It never ends by itself, not even once the task is dead
   * (conformance: follow-dead-task): the caller ends it through `signal`.
   */
  async *follow(allocId: string, task: string, type: LogType, o: Omit<LogOptions, 'follow' | 'tailBytes'> = {}): AsyncGenerator<Uint8Array> {
    const res = await this.logsResponse(allocId, task, type, { ...o, follow: true })
    if (!res.body) return
    yield* res.body
  }

  /**
   * The entries of a directory under the alloc root; null when the directory, or the whole
   * allocation's directory, is not there (any more: Nomad's client collects finished alloc dirs).
   */
  async ls(allocId: string, path: string): Promise<AllocFileInfo[] | null> {
    const where = `/v1/client/fs/ls/${encodeURIComponent(allocId)}`
    const res = await this.c.raw('GET', where, { query: { path }, expect: [200, 404, 500] })
    if (res.status === 200) return this.c.json<AllocFileInfo[]>('GET', where, res)
    const text = await res.text()
    if (/no such file or directory|Unknown allocation|alloc not found/i.test(text)) return null
    throw new NomadError('GET', where, res.status, text)
  }

  /**
   * A file under the alloc root that `ls` showed exists. Nomad answers 200 for a missing file and
   * for an unknown allocation alike, with the error text as the body (conformance: client-fs), so
   * a 200 alone never proves the file is there: call this only for names `ls` listed.
   */
  async cat(allocId: string, path: string): Promise<string> {
    const res = await this.c.raw('GET', `/v1/client/fs/cat/${encodeURIComponent(allocId)}`, { query: { path } })
    const text = await res.text()
    if (/^Unknown allocation "|^stat .*: no such file or directory$/.test(text.trim()))
      throw new NomadError('GET', `/v1/client/fs/cat/${allocId}?path=${path}`, res.status, text)
    return text
  }
}
