// REST: /v1/jobs — submit, list, status, wait, logs (JSON or Server-Sent Events), kill.
import { CloneType } from '@sinclair/typebox'
import { Elysia, t } from 'elysia'
import { isServiceError } from '../errors'
import type { BuildApi } from '../service/api'
import type { Caller } from '../service/build-service'
import { JobList, JobRef, JobRequest, JobStatus, ListQuery, Logs, LogsQuery, RunRequest, RunResult, SubmitResult, WaitQuery } from '../service/schemas'
import { type Authenticate, callerOf, noAuth, security } from './auth'
import { Problem, problemOf } from './problem'
import { querySchema } from './query'

// What the docs offer to send: a request every server accepts (https, a public registry, no secrets).
const SubmitBody = CloneType(JobRequest, {
  examples: [
    {
      repo: 'https://github.com/acme/app.git',
      ref: 'main',
      image: 'ghcr.io/acme/app',
      tags: ['1.0.0'],
      test: { commands: ['./run-tests'], timeout: 300 },
      resources: { cpu: 500, memory: 2048 },
    },
  ],
})

const problems = { 400: Problem, 401: Problem, 404: Problem, 409: Problem, 502: Problem, 503: Problem }
const tags = ['jobs']

const LogsRouteQuery = querySchema(LogsQuery, ['id'], {
  follow: t.Optional(
    t.BooleanString({ description: 'true: stream the output as Server-Sent Events (event log, then event end with the final status).' }),
  ),
})

const sse = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`

/** followLogs as an SSE stream: `log` events {task,text}, then `end` with the final status (or `error` with a problem). */
function logStream(api: BuildApi, q: Omit<LogsQuery, 'tail'>, caller: Caller, signal: AbortSignal): Response {
  const encoder = new TextEncoder()
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      const send = (event: string, data: unknown) => controller.enqueue(encoder.encode(sse(event, data)))
      try {
        for await (const chunk of api.followLogs(q, caller, signal)) send('log', { task: chunk.task, text: chunk.text })
        if (!signal.aborted) send('end', await api.getStatus(q.id, caller))
      } catch (e) {
        if (!signal.aborted) send('error', isServiceError(e) ? problemOf(e) : { title: 'Internal error', status: 500, detail: String(e) })
      }
      try {
        controller.close()
      } catch {}
    },
  })
  return new Response(body, { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' } })
}

export const jobsRoutes = (api: BuildApi, authenticate: Authenticate = noAuth) =>
  new Elysia({ name: 'jobs', prefix: '/v1/jobs' })
    .use(callerOf(authenticate))
    .post('', async ({ body, status, caller }) => status(201, await api.submitJob(body, caller)), {
      body: SubmitBody,
      response: { 201: SubmitResult, ...problems, 415: Problem },
      detail: {
        summary: 'Submit a build',
        description: 'Clone, build, test and publish an image as one Nomad job. Returns at once with the job id; follow it with /wait or /logs.',
        tags,
        security,
      },
    })
    .get('', async ({ query, caller }) => api.listJobs(query as ListQuery, caller), {
      query: querySchema(ListQuery),
      response: { 200: JobList, ...problems },
      detail: { summary: 'List recent jobs', description: 'Newest first, optionally only one status.', tags, security },
    })
    .get('/:id', async ({ params, caller }) => api.getStatus(params.id, caller), {
      params: JobRef,
      response: { 200: JobStatus, ...problems },
      detail: { summary: 'Get a job status', description: 'Status, phases, failure (with the log tail) or result (images, digest).', tags, security },
    })
    .get('/:id/wait', async ({ params, query, request, caller }) =>
      api.waitForJob({ ...(query as Omit<WaitQuery, 'id'>), id: params.id }, caller, request.signal), {
      params: JobRef,
      query: querySchema(WaitQuery, ['id']),
      response: { 200: JobStatus, ...problems },
      detail: {
        summary: 'Wait for a status change',
        description: 'Blocks until the status changes (until=change) or the job has ended (until=final), or timeoutSeconds pass; returns the status.',
        tags,
        security,
      },
    })
    .get(
      '/:id/logs',
      async ({ params, query, request, caller }) => {
        const { follow, ...q } = query as Omit<LogsQuery, 'id'> & { follow?: boolean }
        if (follow) {
          const { tail: _, ...rest } = q
          // Fail before the stream starts when the job does not exist: a 404 problem, not an SSE error.
          await api.getStatus(params.id, caller)
          // A Response is sent as-is (Elysia validates only plain values against `response`).
          return logStream(api, { ...rest, id: params.id }, caller, request.signal) as unknown as Logs
        }
        return api.getLogs({ ...q, id: params.id }, caller)
      },
      {
        params: JobRef,
        query: LogsRouteQuery,
        response: { 200: Logs, ...problems },
        detail: { summary: "Get a job's logs", description: 'Per task, the last `tail` lines; follow=true streams them as Server-Sent Events.', tags, security },
      },
    )
    .post('/:id/run', async ({ params, body, request, caller }) => api.runInImage(params.id, body, caller, request.signal), {
      params: JobRef,
      body: CloneType(RunRequest, { examples: [{ command: 'ls -la /app && /app/run --version', timeoutSeconds: 30 }] }),
      response: { 200: RunResult, ...problems, 415: Problem },
      detail: {
        summary: "Run a command in a build's image",
        description:
          "One bounded command in an ended build's image: the built image for a build that succeeded or failed a test, the image after the last step that succeeded for one that failed a build step. Runs as a short Nomad job on the node that holds it, with the tests' network and no secrets; stdout and stderr are kept up to 64 KiB each. 404 when the image is gone (pruned, node lost): resubmit the build.",
        tags,
        security,
      },
    })
    .delete('/:id', async ({ params, caller }) => api.killJob(params.id, caller), {
      params: JobRef,
      response: { 200: JobStatus, ...problems },
      detail: { summary: 'Kill a job', description: 'Stops a running job; nothing is published. 409 when it has already finished.', tags, security },
    })
