// The dashboard's client of the REST API: the bearer token from sessionStorage, problems as errors, SSE over fetch.
import type { Static } from '@sinclair/typebox'
import { createParser } from 'eventsource-parser'
import type { Problem as ProblemSchema } from '../http/problem'
import type { JobList, JobState, JobStatus, Logs, ServerInfo } from '../service/schemas'

type Problem = Static<typeof ProblemSchema>

const TOKEN_KEY = 'nbs.token'

// sessionStorage, never a cookie or the URL: the token then goes only where this page sends it, as a header.
export const storedToken = () => sessionStorage.getItem(TOKEN_KEY) ?? undefined
export const storeToken = (token: string | undefined) =>
  token ? sessionStorage.setItem(TOKEN_KEY, token) : sessionStorage.removeItem(TOKEN_KEY)

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Partial<Problem>,
  ) {
    super(problem.detail ?? problem.title ?? `HTTP ${status}`)
  }
}

export const isUnauthorized = (e: unknown) => e instanceof ApiError && e.status === 401

let unauthorized: (() => void) | undefined
/** Called whenever the server answers 401: the page then asks for a token instead of showing an error. */
export const onUnauthorized = (f: () => void) => {
  unauthorized = f
}

async function request(path: string, init: RequestInit = {}): Promise<Response> {
  const token = storedToken()
  const headers = new Headers(init.headers)
  if (token) headers.set('authorization', `Bearer ${token}`)
  const res = await fetch(path, { ...init, headers })
  if (res.ok) return res
  const problem = (await res.json().catch(() => ({ title: res.statusText }))) as Partial<Problem>
  if (res.status === 401) unauthorized?.()
  throw new ApiError(res.status, problem)
}

const json = async <T>(path: string, init?: RequestInit): Promise<T> => (await (await request(path, init)).json()) as T

const jobPath = (id: string) => `/v1/jobs/${encodeURIComponent(id)}`

export const getInfo = () => json<ServerInfo>('/v1/info')
export const listJobs = (status?: JobState) => json<JobList>(`/v1/jobs${status ? `?status=${status}` : ''}`)
export const getJob = (id: string) => json<JobStatus>(jobPath(id))
export const killJob = (id: string) => json<JobStatus>(jobPath(id), { method: 'DELETE' })
/** Returns when the status changes, or after `seconds` with the current one (a blocking query on the server). */
export const waitJob = (id: string, seconds: number, signal: AbortSignal) =>
  json<JobStatus>(`${jobPath(id)}/wait?timeoutSeconds=${seconds}`, { signal })
export const getLogs = (id: string) => json<Logs>(`${jobPath(id)}/logs?tail=0`)

export interface FollowHandlers {
  log: (task: string, text: string) => void
  end: (status: JobStatus) => void
}

/**
 * The logs as they are written (the server's SSE stream), until the `end` event. fetch rather than
 * EventSource, which cannot send the Authorization header.
 */
export async function followLogs(id: string, on: FollowHandlers, signal: AbortSignal): Promise<void> {
  const res = await request(`${jobPath(id)}/logs?follow=true`, { signal, headers: { accept: 'text/event-stream' } })
  let failure: ApiError | undefined
  const parser = createParser({
    onEvent: (e) => {
      const data = JSON.parse(e.data)
      if (e.event === 'log') on.log(data.task, data.text)
      else if (e.event === 'end') on.end(data as JobStatus)
      else if (e.event === 'error') failure = new ApiError(data.status ?? 500, data as Partial<Problem>)
    },
  })
  const reader = (res.body as ReadableStream<Uint8Array>).getReader()
  const decoder = new TextDecoder()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    parser.feed(decoder.decode(value, { stream: true }))
  }
  if (failure) throw failure
}
