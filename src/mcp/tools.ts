// The MCP tools: one per service operation, with JSON Schemas straight from the typebox schemas.
import type { Progress, ToolAnnotations } from '@modelcontextprotocol/sdk/types.js'
import { type Static, type TObject, type TSchema, Type } from '@sinclair/typebox'
import { ServiceError } from '../errors'
import type { JobStatus } from '../jobs/status-schema'
import type { BuildApi } from '../service/api'
import type { Caller } from '../service/build-service'
import {
  CleanupQuery,
  CleanupResult,
  JobList,
  JobRef,
  JobRequest,
  JobStatus as JobStatusSchema,
  ListQuery,
  Logs,
  LogsQuery,
  RUN_LIMITS,
  RunRequest,
  RunResult,
  ServerInfo,
  SourceUpload,
  SubmitResult,
  WAIT_SECONDS,
  WaitQuery,
} from '../service/schemas'
import { progressMessage } from './progress'
import { logsText, statusText, waitText } from './summary'

/** What a call runs with besides its arguments. */
export interface CallContext {
  signal: AbortSignal
  caller: Caller
  /** Set when the caller sent a progressToken: sends it a notifications/progress. */
  progress?: (p: Progress) => Promise<void>
}

export interface Tool {
  name: string
  title: string
  /** Some descriptions carry examples this server accepts: they are written from its getServerInfo. */
  description: string | ((info: ServerInfo) => string)
  annotations: ToolAnnotations
  input: TObject
  output: TObject
  /** Called with arguments already checked against `input` and decoded. */
  run: (api: BuildApi, args: never, ctx: CallContext) => Promise<unknown>
  /** The text that goes with the structured result: what an agent needs to act, bounded. */
  summary: (result: never, args: never) => string
  /** Set for a tool that may run as an MCP Task: the build its result names is the task. */
  task?: { idOf: (result: never) => string }
}

const tool = <I extends TObject, O extends TObject>(t: {
  name: string
  title: string
  description: string | ((info: ServerInfo) => string)
  annotations: ToolAnnotations
  input: I
  output: O
  run: (api: BuildApi, args: Static<I>, ctx: CallContext) => Promise<Static<O>>
  summary: (result: Static<O>, args: Static<I>) => string
  task?: { idOf: (result: Static<O>) => string }
}): Tool => t as unknown as Tool

// Reads change nothing, and only this service's own jobs are involved: a closed world.
const read: ToolAnnotations = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false }

const exampleId = '20261125-123456-a1b2c3'

/** A request this server accepts as it is configured: its own registry, and a secret under a prefix the caller has. */
function submitExample(info: ServerInfo): string {
  const registry = info.registries.insecure[0] ?? 'ghcr.io'
  const example = { repo: 'https://github.com/acme/app.git', image: `${registry}/acme/app`, tags: ['dev'], test: { commands: ['./run-tests'] } }
  const [prefix] = info.secrets.prefixes
  const secret = prefix && { ...example, secrets: { registry: `${prefix}${prefix.endsWith('/') ? '' : '/'}registry` } }
  return [`Example: ${JSON.stringify(example)}`, secret ? `With credentials: ${JSON.stringify(secret)}` : ''].filter(Boolean).join('\n')
}

function serverRules(info: ServerInfo): string {
  const insecure = info.registries.insecure.length
    ? `registries ${info.registries.insecure.join(', ')} are pushed to over plain HTTP, any other over TLS`
    : 'registries are pushed to over TLS'
  const secrets = info.secrets.prefixes.length
    ? `secret references must start with ${info.secrets.prefixes.join(' or ')}`
    : 'you may use no secret references'
  return `This server: repo as ${info.repo.forms.join(', ')}; ${insecure}; ${secrets}. getServerInfo tells its limits and defaults.`
}

/**
 * Packs a directory of the machine the tools run on and uploads it: what `sourcePath` needs. Only
 * stdio has one (the agent's files are where `nbs mcp --stdio` runs); over HTTP they are not.
 */
export type UploadDirectory = (api: BuildApi, path: string, request: { context?: string; dockerfile?: string }) => Promise<SourceUpload>

/** submitJob's input on stdio: the request, or a directory of this machine in place of repo or source. */
export const LocalJobRequest = Type.Object(
  {
    ...JobRequest.properties,
    sourcePath: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 4096,
        description:
          'A directory of this machine to build instead of repo or source, absolute or relative to the directory this MCP server runs in: packed (its .dockerignore honoured, .git left out) and uploaded, then built as source.',
      }),
    ),
  },
  { additionalProperties: false },
)

const submitSummary = (r: SubmitResult) =>
  `submitted ${r.id} (${r.status}); will push ${r.images.join(', ')} if every test passes. Next: waitForJob {"id":"${r.id}","until":"final"}`

const submitDescription = (sources: string) => (info: ServerInfo) =>
  [
    'Build a container image from a Git repository or a directory, run tests inside it, and push it to a registry only if every test passes — one Nomad job.',
    `Returns at once with the job id (status PENDING); then call waitForJob {"id":…,"until":"final"} until it has ended. On FAILED, failure.cause says what failed (e.g. dockerfile_invalid, step_failed, clone_failed, test_failed, publish_rejected), with failure.summary, failure.step, failure.exitCode and failure.hint; the text leads with them, then the last lines; getLogs gives more; runInImage looks inside the image.`,
    'It may also run as an MCP Task: the task id is the job id, tasks/get says working (with the phase) or completed (SUCCEEDED or FAILED: read the result), tasks/result gives the final getStatus result, tasks/cancel kills the build; any server replica answers.',
    sources,
    'Required too: image (repository without tag; tags default to the job id). Optional: context, dockerfile, buildArgs, target, tags, test {commands, entrypoint, env, timeout, gpus}, timeouts, resources.',
    'Credentials only by reference, never values: secrets {git, gitSsh with gitKnownHosts (the SSH server host keys), registry, build: {ID: ref}}.',
    serverRules(info),
    submitExample(info),
  ].join('\n')

const submitAnnotations: ToolAnnotations = { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true }

/** submitJob over HTTP: the agent's files are not here, so a directory comes as an upload made first. */
const submitRemote = tool({
  name: 'submitJob',
  title: 'Submit a build',
  description: submitDescription(
    'The source, one of: repo (Git URL; ref picks a branch, tag or commit), or source: the id of a directory uploaded first, with `nbs upload DIR` (prints the id; honours .dockerignore) or POST /v1/sources with a tar.gz of it as the body.',
  ),
  annotations: submitAnnotations,
  input: JobRequest,
  output: SubmitResult,
  run: (api, args, { caller }) => api.submitJob(args, caller),
  summary: submitSummary,
  task: { idOf: (r) => r.id },
})

/** submitJob on stdio: the server runs beside the agent's files, so it can pack and upload a directory itself. */
const submitLocal = (upload: UploadDirectory) =>
  tool({
    name: 'submitJob',
    title: 'Submit a build',
    description: submitDescription(
      'The source, one of: repo (Git URL; ref picks a branch, tag or commit); sourcePath: a directory of this machine (e.g. "." for the one this MCP server runs in), packed honouring its .dockerignore and uploaded; or source: the id of an earlier upload.',
    ),
    annotations: submitAnnotations,
    input: LocalJobRequest,
    output: SubmitResult,
    run: async (api, { sourcePath, ...request }, { caller }) => {
      if (sourcePath === undefined) return api.submitJob(request, caller)
      if (request.repo !== undefined || request.source !== undefined)
        throw new ServiceError('invalid_request', `sourcePath: give one of repo, source and sourcePath, not ${request.repo !== undefined ? 'repo' : 'source'} as well`, 'sourcePath')
      const { source } = await upload(api, sourcePath, request)
      return api.submitJob({ ...request, source }, caller)
    },
    summary: submitSummary,
    task: { idOf: (r) => r.id },
  })

const jobTools: Tool[] = [
  tool({
    name: 'getStatus',
    title: 'Get a job status',
    description: [
      "A job's status now: PENDING, BUILDING, TESTING, PUBLISHING, SUCCEEDED or FAILED; each task's state and exit code;",
      'on failure the reason (build_failed, test_failed, publish_failed, killed, timeout, infrastructure), the failing phase, and failure.cause: what failed, read from Git, Buildah, the registry and Nomad',
      '(clone_failed, ref_not_found, source_unavailable, context_invalid, dockerfile_invalid, base_image_unavailable, step_failed, secret_unavailable, test_failed, test_timeout, publish_rejected, registry_unreachable, killed, timeout, node_lost, placement, node_unfit)',
      'with failure.summary (one sentence), failure.step {index, total, instruction}, failure.exitCode and failure.hint, and the last lines of its log. A FAILED answer waits until every task has ended (a few seconds at most).',
      `on success the pushed images and the manifest digest. Example: {"id":"${exampleId}"}`,
    ].join('\n'),
    annotations: read,
    input: JobRef,
    output: JobStatusSchema,
    run: (api, args, { caller }) => api.getStatus(args.id, caller),
    summary: statusText,
  }),
  tool({
    name: 'getLogs',
    title: "Get a job's logs",
    description: [
      "The output of a job's tasks (build, test-N, publish), stdout and stderr interleaved, the last `tail` lines of each (default 200; 0 for all).",
      'Narrow with phase (build, test or publish), task (e.g. test-0), failedOnly: true (the tasks that failed), and grep: lines containing a text (case-insensitive) or matching /regex/flags.',
      "The text answer starts with the failure's cause and gives each task's last lines within a few thousand characters; structuredContent has every selected line.",
      `Example: {"id":"${exampleId}","failedOnly":true,"grep":"error"}`,
    ].join('\n'),
    annotations: read,
    input: LogsQuery,
    output: Logs,
    run: (api, args, { caller }) => api.getLogs(args, caller),
    summary: (r, args) => logsText(r, args.grep),
  }),
  tool({
    name: 'killJob',
    title: 'Kill a job',
    description: `Stop a job that is still running; nothing is published and the status becomes FAILED with reason killed (failure.cause killed, failure.step the build step it stopped). Returns once its tasks have ended, a few seconds at most. A job that has already finished is refused.\nExample: {"id":"${exampleId}"}`,
    // Killing a killed job changes nothing more.
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    input: JobRef,
    output: JobStatusSchema,
    run: (api, args, { caller }) => api.killJob(args.id, caller),
    summary: statusText,
  }),
  tool({
    name: 'cleanup',
    title: 'Remove finished jobs',
    description: [
      'Remove finished jobs from Nomad, their logs with them. Say which: id (that one job; refused if it still runs), olderThanSeconds (the finished jobs created longer ago), or all: true (every finished job).',
      'Running jobs are kept and listed with the reason. Example: {"olderThanSeconds":86400}',
    ].join('\n'),
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    input: CleanupQuery,
    output: CleanupResult,
    run: (api, args, { caller }) => api.cleanup(args, caller),
    summary: (r) =>
      [`removed ${r.removed.length}${r.removed.length ? `: ${r.removed.join(', ')}` : ''}; kept ${r.kept.length}`, ...r.kept.map((k) => `kept ${k.id}: ${k.reason}`)].join('\n'),
  }),
  tool({
    name: 'listJobs',
    title: 'List recent jobs',
    description:
      'Recent jobs, newest first: id, status, creation and finish times, repo, image, failure reason. Optional status filter (PENDING, BUILDING, TESTING, PUBLISHING, SUCCEEDED, FAILED) and limit (default 50).\nExample: {"status":"FAILED","limit":10}',
    annotations: read,
    input: ListQuery,
    output: JobList,
    run: (api, args, { caller }) => api.listJobs(args, caller),
    summary: (r) => (r.jobs.length ? r.jobs.map((j) => `${j.id} ${j.status}${j.reason ? ` (${j.reason})` : ''} ${j.image}`).join('\n') : 'no jobs'),
  }),
  tool({
    name: 'waitForJob',
    title: 'Wait for a job',
    description: [
      `Wait until the job's status changes (until "change", the default) or it has ended (until "final": SUCCEEDED or FAILED, every task done), at most timeoutSeconds: default ${WAIT_SECONDS.default}, under the 60 s after which MCP clients give up; up to ${WAIT_SECONDS.maximum} only if your client resets its timeout on progress.`,
      'With a progressToken it sends notifications/progress while it waits (phase, step, seconds waited). Returns the status, a FAILED one with failure.cause once every task has ended (a few seconds at most); when the job has not ended yet the text says so: call it again.',
      `Example: {"id":"${exampleId}","until":"final"}`,
    ].join('\n'),
    annotations: read,
    input: WaitQuery,
    output: JobStatusSchema,
    run: (api, args, { caller, signal, progress }) => {
      const started = Date.now()
      const total = args.timeoutSeconds ?? WAIT_SECONDS.default
      let sent = -1
      const onProgress =
        progress &&
        (async (s: JobStatus) => {
          const waited = Math.round((Date.now() - started) / 100) / 10
          // MCP: each notification's progress must be greater than the last one's.
          if (waited <= sent) return
          sent = waited
          await progress({ progress: waited, total, message: await progressMessage(api, s, caller, waited) })
        })
      return api.waitForJob(args, caller, signal, onProgress)
    },
    summary: waitText,
  }),
  tool({
    name: 'runInImage',
    title: "Run a command in a build's image",
    description: [
      "Look inside what a build made: one command in a fresh container from the build's image, on the node that holds it, with the tests' network and no secrets.",
      'For a build that SUCCEEDED or failed a test: the built image. For one that failed at build step N: the image after the last step that succeeded ("image": "after step 3 of 4"), so you can see what the failing step started from.',
      `command is a string for /bin/sh -c or an array run as-is; env; timeoutSeconds (default ${RUN_LIMITS.seconds.default}, at most ${RUN_LIMITS.seconds.maximum}). Answers exitCode, stdout, stderr (${RUN_LIMITS.outputBytes / 1024} KiB each at most, truncated says so), image, durationSeconds.`,
      'The loop: submitJob → read failure → runInImage to look → fix → submitJob again. When the image is gone (pruned, node lost) it says so: resubmit the build.',
      `Example: {"id":"${exampleId}","command":"ls -la /app && /app --version"}`,
    ].join('\n'),
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    input: Type.Object({ id: JobRef.properties.id, ...RunRequest.properties }, { additionalProperties: false }),
    output: RunResult,
    run: (api, { id, ...run }, { caller, signal }) => api.runInImage(id, run, caller, signal),
    summary: (r) =>
      [
        `exit ${r.exitCode}${r.timedOut ? ' (stopped at its time limit)' : ''} in ${r.image} (${r.imageId.slice(0, 12)}) on ${r.node}, ${r.durationSeconds} s${r.truncated ? '; output truncated' : ''}`,
        r.stdout && `stdout:\n${r.stdout.slice(-4000)}`,
        r.stderr && `stderr:\n${r.stderr.slice(-4000)}`,
      ]
        .filter(Boolean)
        .join('\n'),
  }),
  tool({
    name: 'getServerInfo',
    title: 'What this server accepts',
    description:
      'What this server accepts from you, from its own configuration: the repo URL forms, the registries it pushes to over plain HTTP, the secret prefixes you may use, its execution profile, limits (request size, counts, time limits, builds in flight) and defaults (timeouts, resources, wait). Call it before your first submitJob.\nExample: {}',
    annotations: read,
    input: Type.Object({}, { additionalProperties: false }),
    output: ServerInfo,
    run: (api, _args, { caller }) => api.serverInfo(caller),
    summary: (i) => JSON.stringify(i),
  }),
]

/** MCP wants a plain JSON Schema object; typebox's own keys are symbols, so JSON drops them. */
export const jsonSchema = (s: TSchema) => JSON.parse(JSON.stringify(s)) as { type: 'object'; [k: string]: unknown }

/** The tools; with `upload` (stdio), submitJob takes a local directory as sourcePath. */
export const mcpTools = (upload?: UploadDirectory): Tool[] => [upload ? submitLocal(upload) : submitRemote, ...jobTools]
