// The client filesystem API: task logs (plain text, tail, follow) and files in the alloc dir.
import type { NomadClient } from './client'
import { NomadError } from './error'

export type LogType = 'stdout' | 'stderr'

const NO_LOG_YET = /^log entry for task .* and log type .* not found/
const LOG_WAIT_MS = 50

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

  /**
   * Nomad's answer for a task that has no log file (yet): 404 "log entry for task … not found".
   * A task with log collection disabled writes its own, from its first line; before that, and for
   * a task that never started, there is nothing: undefined here, an empty log to the callers.
   */
  private async logsResponse(allocId: string, task: string, type: LogType, o: LogOptions): Promise<Response | undefined> {
    const where = `/v1/client/fs/logs/${encodeURIComponent(allocId)}`
    const res = await this.c.raw('GET', where, {
      query: {
        task,
        type,
        plain: true,
        follow: o.follow || undefined,
        origin: o.tailBytes === undefined ? 'start' : 'end',
        offset: o.tailBytes ?? o.fromByte ?? 0,
      },
      signal: o.signal,
      expect: [200, 404],
      long: o.follow,
    })
    if (res.status === 200) return res
    const text = await res.text()
    if (NO_LOG_YET.test(text)) return undefined
    throw new NomadError('GET', where, res.status, text)
  }

  async logs(allocId: string, task: string, type: LogType, o: Omit<LogOptions, 'follow'> = {}): Promise<string> {
    return (await this.logsResponse(allocId, task, type, o))?.text() ?? ''
  }

  async logBytes(allocId: string, task: string, type: LogType, o: Omit<LogOptions, 'follow'> = {}): Promise<Uint8Array> {
    const res = await this.logsResponse(allocId, task, type, o)
    return res ? new Uint8Array(await res.arrayBuffer()) : new Uint8Array()
  }

  /**
   * Nomad's follow stream as raw bytes. It never ends by itself, not even once the task is dead
   * (conformance: follow-dead-task): the caller ends it through `signal`. Until the task has
   * written its log file, it is asked for again every LOG_WAIT_MS.
   */
  async *follow(allocId: string, task: string, type: LogType, o: Omit<LogOptions, 'follow' | 'tailBytes'> = {}): AsyncGenerator<Uint8Array> {
    for (;;) {
      const res = await this.logsResponse(allocId, task, type, { ...o, follow: true })
      if (res) {
        if (res.body) yield* res.body
        return
      }
      if (o.signal?.aborted) return
      await Bun.sleep(LOG_WAIT_MS)
    }
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
