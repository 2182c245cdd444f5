// The Nomad HTTP client: one fetch wrapper shared by the per-resource modules.
import pLimit from 'p-limit'
import { NomadError, NomadUnreachableError } from './error'
import { Allocations } from './allocations'
import { AllocFS } from './fs'
import { Jobs } from './jobs'
import { Nodes } from './nodes'
import { Status } from './status'
import { Variables } from './variables'

export interface ClientOptions {
  address: string
  token?: string
  namespace?: string
}

/** Options every read takes, as in Nomad's api.QueryOptions. */
export interface QueryOptions {
  /** Block until the index moves past this one (a blocking query). */
  waitIndex?: number
  /** How long a blocking query may wait, e.g. "5s". */
  waitTime?: string
  signal?: AbortSignal
}

export interface QueryMeta {
  lastIndex: number
}

export interface Read<T> {
  data: T
  meta: QueryMeta
}

type Query = Record<string, string | number | boolean | undefined>

/**
 * How many short requests one client has in flight. A Nomad agent refuses a client IP's
 * connections past http_max_conns_per_client (100 by default) with 429 "Your IP is issuing too
 * many concurrent connections": seen on Nomad 2.0.5 when a list of 50 builds read each one's
 * results at once, fs reads forwarded to a second node. Blocking queries and log follows are
 * bounded by their callers instead (they would hold a slot for seconds), and need the rest.
 */
export const MAX_SHORT_REQUESTS = 32

export class NomadClient {
  readonly address: string
  readonly jobs = new Jobs(this)
  readonly allocations = new Allocations(this)
  readonly fs = new AllocFS(this)
  readonly variables = new Variables(this)
  readonly status = new Status(this)
  readonly nodes = new Nodes(this)

  private readonly shortRequests = pLimit(MAX_SHORT_REQUESTS)

  constructor(private readonly options: ClientOptions) {
    this.address = options.address.replace(/\/+$/, '')
  }

  /**
   * Sends one request; answers outside `expect` become a NomadError carrying the body. A request
   * that is not `long` (a blocking query, a follow) waits for one of MAX_SHORT_REQUESTS slots,
   * which it holds until its answer's body is read.
   */
  async raw(
    method: string,
    path: string,
    opts: { query?: Query; body?: unknown; signal?: AbortSignal; expect?: number[]; long?: boolean } = {},
  ): Promise<Response> {
    if (opts.long) return this.request(method, path, opts)
    return this.shortRequests(async () => {
      const res = await this.request(method, path, opts)
      // The slot is the connection's: it is free once the body has been read.
      const body = await res.arrayBuffer()
      return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers })
    })
  }

  private async request(method: string, path: string, opts: { query?: Query; body?: unknown; signal?: AbortSignal; expect?: number[] }): Promise<Response> {
    const url = new URL(this.address + path)
    const query: Query = { namespace: this.options.namespace, ...opts.query }
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v))
    const headers: Record<string, string> = {}
    if (this.options.token) headers['X-Nomad-Token'] = this.options.token
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json'
    let res: Response
    try {
      res = await fetch(url, {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: opts.signal,
      })
    } catch (e) {
      if (opts.signal?.aborted) throw e
      throw new NomadUnreachableError(this.address, e)
    }
    if (!(opts.expect ?? [200]).includes(res.status)) throw new NomadError(method, path, res.status, await res.text())
    return res
  }

  async read<T>(path: string, q: QueryOptions = {}, query: Query = {}): Promise<Read<T>> {
    const res = await this.raw('GET', path, {
      query: { ...query, index: q.waitIndex, wait: q.waitIndex === undefined ? undefined : (q.waitTime ?? '30s') },
      signal: q.signal,
      long: q.waitIndex !== undefined,
    })
    return { data: await this.json<T>('GET', path, res), meta: { lastIndex: Number(res.headers.get('X-Nomad-Index') ?? 0) } }
  }

  /** A JSON answer's body; anything else (another content type, text that is not JSON) is an error carrying Nomad's words. */
  async json<T>(method: string, path: string, res: Response): Promise<T> {
    const text = await res.text()
    if (!(res.headers.get('Content-Type') ?? '').includes('json'))
      throw new NomadError(method, path, res.status, text, `expected JSON, got ${res.headers.get('Content-Type') ?? 'no content type'}`)
    try {
      return JSON.parse(text) as T
    } catch {
      throw new NomadError(method, path, res.status, text, 'the body is not JSON')
    }
  }

  /** A write whose answer is JSON. */
  async write<T>(method: 'PUT' | 'POST' | 'DELETE', path: string, body?: unknown, query: Query = {}): Promise<T> {
    return this.json<T>(method, path, await this.raw(method, path, { body, query }))
  }

  /**
   * A write whose answer carries nothing the caller needs: Nomad 2.0.5 answers DELETE /v1/var/…
   * with 204 and an empty body (recorded), where other deletes answer 200 with JSON.
   */
  async send(method: 'PUT' | 'POST' | 'DELETE', path: string, body?: unknown, query: Query = {}): Promise<void> {
    const res = await this.raw(method, path, { body, query, expect: [200, 204] })
    await res.body?.cancel()
  }
}
