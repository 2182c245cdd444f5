// The MCP tools: one per service operation, with JSON Schemas straight from the typebox schemas.
import type { Static, TObject, TSchema } from '@sinclair/typebox'
import type { BuildApi } from '../service/api'
import type { Caller } from '../service/build-service'
import {
  CleanupQuery,
  CleanupResult,
  JobList,
  JobRef,
  JobRequest,
  JobStatus,
  ListQuery,
  Logs,
  LogsQuery,
  SubmitResult,
  WaitQuery,
} from '../service/schemas'
import { statusLine } from './summary'

export interface Tool {
  name: string
  title: string
  description: string
  input: TObject
  output: TObject
  /** Called with arguments already checked against `input`. */
  run: (api: BuildApi, args: never, signal: AbortSignal, caller: Caller) => Promise<unknown>
  /** The short text that goes with the structured result. */
  summary: (result: never) => string
}

const tool = <I extends TObject, O extends TObject>(t: {
  name: string
  title: string
  description: string
  input: I
  output: O
  run: (api: BuildApi, args: Static<I>, signal: AbortSignal, caller: Caller) => Promise<Static<O>>
  summary: (result: Static<O>) => string
}): Tool => t as unknown as Tool

export const tools: Tool[] = [
  tool({
    name: 'submitJob',
    title: 'Submit a build',
    description: [
      'Build a container image from a Git repository, run tests inside it, and push it to a registry only if every test passes — one Nomad job.',
      'Returns at once with the job id (status PENDING); then call waitForJob with until "final", and getLogs or getStatus to read a failure.',
      'Required: repo (Git URL) and image (repository without tag; tags default to the job id). Optional: ref, context, dockerfile, buildArgs, target, tags, test {commands, entrypoint, env, timeout, gpus}, timeouts, resources.',
      'Credentials only by reference, never values: secrets {git, gitSsh, registry, build: {ID: ref}}, each "vault:<kv path>" or "nomad:<variable path>" under a prefix your client may use.',
      'Example: {"repo":"https://github.com/acme/app.git","image":"registry.example.com/acme/app","tags":["dev"],"test":{"commands":["go test ./..."]}}',
    ].join('\n'),
    input: JobRequest,
    output: SubmitResult,
    run: (api, args, _s, caller) => api.submitJob(args, caller),
    summary: (r) => `submitted ${r.id} (${r.status}); will push ${r.images.join(', ')} if every test passes`,
  }),
  tool({
    name: 'getStatus',
    title: 'Get a job status',
    description: [
      "A job's status now: PENDING, BUILDING, TESTING, PUBLISHING, SUCCEEDED or FAILED; each task's state and exit code;",
      'on failure the reason (build_failed, test_failed, publish_failed, killed, timeout, infrastructure), the failing phase and the last lines of its log;',
      'on success the pushed images and the manifest digest. Example: {"id":"20261125-123456-a1b2c3"}',
    ].join('\n'),
    input: JobRef,
    output: JobStatus,
    run: (api, args, _s, caller) => api.getStatus(args.id, caller),
    summary: statusLine,
  }),
  tool({
    name: 'getLogs',
    title: "Get a job's logs",
    description: [
      "The output of a job's tasks (build, test-N, publish), stdout and stderr interleaved, the last `tail` lines of each (default 200; 0 for all).",
      'Narrow with phase (build, test or publish) or task (e.g. test-0). Use it to see why a build or a test failed.',
      'Example: {"id":"20261125-123456-a1b2c3","phase":"build","tail":100}',
    ].join('\n'),
    input: LogsQuery,
    output: Logs,
    run: (api, args, _s, caller) => api.getLogs(args, caller),
    summary: (r) =>
      `${r.id} ${r.status}: ${r.logs.map((l) => `${l.task} ${l.state} (${l.text.split('\n').filter(Boolean).length} lines)`).join(', ') || 'no tasks selected'}`,
  }),
  tool({
    name: 'killJob',
    title: 'Kill a job',
    description:
      'Stop a job that is still running; nothing is published and the status becomes FAILED with reason killed. A job that has already finished is refused.\nExample: {"id":"20261125-123456-a1b2c3"}',
    input: JobRef,
    output: JobStatus,
    run: (api, args, _s, caller) => api.killJob(args.id, caller),
    summary: statusLine,
  }),
  tool({
    name: 'cleanup',
    title: 'Remove finished jobs',
    description: [
      'Remove finished jobs from Nomad (their logs go with them). With id: that one job (refused if it still runs).',
      'Without id: every finished job created more than olderThanSeconds ago (default 0: all finished jobs). Running jobs are kept and listed with the reason.',
      'Example: {"olderThanSeconds":86400}',
    ].join('\n'),
    input: CleanupQuery,
    output: CleanupResult,
    run: (api, args, _s, caller) => api.cleanup(args, caller),
    summary: (r) => `removed ${r.removed.length}${r.removed.length ? `: ${r.removed.join(', ')}` : ''}; kept ${r.kept.length}`,
  }),
  tool({
    name: 'listJobs',
    title: 'List recent jobs',
    description:
      'Recent jobs, newest first: id, status, creation and finish times, repo, image, failure reason. Optional status filter and limit (default 50).\nExample: {"status":"FAILED","limit":10}',
    input: ListQuery,
    output: JobList,
    run: (api, args, _s, caller) => api.listJobs(args, caller),
    summary: (r) => (r.jobs.length ? r.jobs.map((j) => `${j.id} ${j.status}${j.reason ? ` (${j.reason})` : ''}`).join('\n') : 'no jobs'),
  }),
  tool({
    name: 'waitForJob',
    title: 'Wait for a job',
    description: [
      'Block until the job status changes (until "change", the default) or until it has ended (until "final": SUCCEEDED or FAILED with every task done), at most timeoutSeconds (default 60, max 600); returns the status then.',
      'If it returns before the end, call it again. Example: {"id":"20261125-123456-a1b2c3","until":"final","timeoutSeconds":300}',
    ].join('\n'),
    input: WaitQuery,
    output: JobStatus,
    run: (api, args, signal, caller) => api.waitForJob(args, caller, signal),
    summary: statusLine,
  }),
]

/** MCP wants a plain JSON Schema object; typebox's own keys are symbols, so JSON drops them. */
export const jsonSchema = (s: TSchema) => JSON.parse(JSON.stringify(s)) as { type: 'object'; [k: string]: unknown }

export const toolByName = new Map(tools.map((x) => [x.name, x]))
