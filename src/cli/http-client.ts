// BuildApi over the REST API: what the CLI uses to talk to a server; problems become ServiceErrors again.
import { EventSourceParserStream } from 'eventsource-parser/stream'
import { ServiceError } from '../errors'
import { errorOfProblem, type ProblemBody } from '../http/problem'
import type { JobStatus } from '../jobs/status-schema'
import type { BuildApi } from '../service/api'
import { waitLoop } from '../service/wait'
import type { CleanupQuery, CleanupResult, JobList, ListQuery, Logs, LogsQuery, RunRequest, RunResult, ServerInfo, SourceUpload, SubmitResult, WaitQuery } from '../service/schemas'

type Query = Record<string, string | number | boolean | undefined>

const qs = (q: Query) => {
  const p = new URLSearchParams()
  for (const [k, v] of Object.entries(q)) if (v !== undefined) p.set(k, String(v))
  const s = p.toString()
  return s ? `?${s}` : ''
}

export class HttpBuildApi implements BuildApi {
  readonly base: string

  /** `token`: the client's bearer token (NBS_TOKEN for the CLI), sent when the server requires one. */
  constructor(
    base: string,
    private readonly token?: string,
  ) {
    this.base = base.replace(/\/+$/, '')
  }

  submitJob(input: unknown): Promise<SubmitResult> {
    return this.call('POST', '/v1/jobs', input)
  }

  getStatus(id: string): Promise<JobStatus> {
    return this.call('GET', `/v1/jobs/${encodeURIComponent(id)}`)
  }

  getLogs(q: LogsQuery): Promise<Logs> {
    const { id, ...rest } = q
    return this.call('GET', `/v1/jobs/${encodeURIComponent(id)}/logs${qs(rest)}`)
  }

  async *followLogs(q: Omit<LogsQuery, 'tail'>, _caller?: unknown, signal?: AbortSignal): AsyncGenerator<{ task: string; text: string }> {
    const { id, ...rest } = q
    const res = await this.fetch('GET', `/v1/jobs/${encodeURIComponent(id)}/logs${qs({ ...rest, follow: true })}`, undefined, signal, {
      accept: 'text/event-stream',
    })
    if (!res.body) return
    const events = res.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream())
    for await (const ev of events) {
      if (ev.event === 'log') yield JSON.parse(ev.data) as { task: string; text: string }
      else if (ev.event === 'error') {
        const p = JSON.parse(ev.data) as Partial<ProblemBody>
        throw errorOfProblem(p, p.status ?? 502)
      } else if (ev.event === 'end') return
    }
  }

  killJob(id: string): Promise<JobStatus> {
    return this.call('DELETE', `/v1/jobs/${encodeURIComponent(id)}`)
  }

  cleanup(q: CleanupQuery): Promise<CleanupResult> {
    return this.call('POST', '/v1/cleanup', Object.fromEntries(Object.entries(q).filter(([, v]) => v !== undefined)))
  }

  listJobs(q: ListQuery = {}): Promise<JobList> {
    return this.call('GET', `/v1/jobs${qs(q)}`)
  }

  /**
   * One wait on the server; with `onProgress`, waits of a few seconds each, so that a caller over
   * `nbs mcp --stdio --server` hears how the build goes as it would from the server's own MCP.
   */
  async waitForJob(q: WaitQuery, _caller?: unknown, signal?: AbortSignal, onProgress?: (s: JobStatus) => Promise<void> | void): Promise<JobStatus> {
    const { id, ...rest } = q
    const wait = (w: Omit<WaitQuery, 'id'>) => this.call<JobStatus>('GET', `/v1/jobs/${encodeURIComponent(id)}/wait${qs(w)}`, undefined, signal)
    if (!onProgress) return wait(rest)
    return waitLoop(q, await this.getStatus(id), (seconds) => wait({ until: 'change', timeoutSeconds: seconds }), signal, onProgress)
  }

  serverInfo(): Promise<ServerInfo> {
    return this.call('GET', '/v1/info')
  }

  runInImage(id: string, run: RunRequest): Promise<RunResult> {
    return this.call('POST', `/v1/jobs/${encodeURIComponent(id)}/run`, run)
  }

  /** Streams a tar or tar.gz to the server's spool; `bytes`, when known, lets it refuse an upload over the limit before it is sent. */
  uploadSource(archive: ReadableStream<Uint8Array> | Blob, _caller?: unknown, bytes?: number): Promise<SourceUpload> {
    return this.call('POST', '/v1/sources', archive, undefined, bytes === undefined ? {} : { 'content-length': String(bytes) })
  }

  private async call<T>(method: string, path: string, body?: unknown, signal?: AbortSignal, headers?: Record<string, string>): Promise<T> {
    const res = await this.fetch(method, path, body, signal, headers)
    return (await res.json()) as T
  }

  /** The response when it is 2xx; otherwise the problem it carries, thrown as a ServiceError. */
  private async fetch(method: string, path: string, body?: unknown, signal?: AbortSignal, headers: Record<string, string> = {}): Promise<Response> {
    // An archive goes as it is, streamed; anything else as JSON.
    const raw = body instanceof ReadableStream || body instanceof Blob
    let res: Response
    try {
      res = await fetch(this.base + path, {
        method,
        signal,
        headers: {
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': raw ? 'application/octet-stream' : 'application/json' }),
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
          ...headers,
        },
        body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
        ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
      })
    } catch (e) {
      if (signal?.aborted) throw e
      // The dev stack's server may be on a moved port (NBS_DEV_SERVER_PORT): `nbs dev env` exports NBS_SERVER for it.
      throw new ServiceError(
        'server_unavailable',
        `cannot reach the server at ${this.base} (${(e as Error).message}); start one (\`nbs dev up\` for the local dev stack, or \`nbs serve\`), or point the CLI at one: for the dev stack \`eval "$(nbs dev env)"\`, else NBS_SERVER=URL or --server URL`,
      )
    }
    if (res.ok) return res
    const text = await res.text()
    let problem: Partial<ProblemBody> = {}
    try {
      problem = JSON.parse(text) as Partial<ProblemBody>
    } catch {
      problem = { detail: `${method} ${path}: HTTP ${res.status}: ${text.slice(0, 200)}` }
    }
    throw errorOfProblem(problem, res.status)
  }
}
