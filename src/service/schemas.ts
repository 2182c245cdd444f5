// Inputs and outputs of every service operation: the one source for MCP tools, REST routes and the CLI.
import { type Static, Type as t } from '@sinclair/typebox'
import { buildIdOfRef, idPattern, jobRefPattern, taskPattern } from '../jobs/ids'
import { envNamePattern, JobRequest, limits, sourcePattern } from '../jobs/request'
import { Failure, JobState, JobStatus, Phase, Queue } from '../jobs/status-schema'

export { JobRequest, JobStatus, JobState, Phase }

const JobId = t.String({ pattern: idPattern, description: 'Job id as returned by submitJob, e.g. 20261125-123456-a1b2c3.' })

/** A job id as a caller gives it: the Nomad job id (nbs-…) is taken too, and arrives at the service as the job id. */
const JobIdRef = t
  .Transform(
    t.String({
      pattern: jobRefPattern,
      description: 'Job id as returned by submitJob, e.g. 20261125-123456-a1b2c3 (the Nomad job id nbs-20261125-123456-a1b2c3 works too).',
    }),
  )
  .Decode(buildIdOfRef)
  .Encode((id) => id)

/** How long waitForJob waits by default: under the 60 s after which MCP clients (the SDK's, hosted connectors) give up. */
export const WAIT_SECONDS = { default: 50, maximum: 600 } as const

export const SubmitResult = t.Object({
  id: JobId,
  status: JobState,
  createdAt: t.String({ format: 'date-time' }),
  images: t.Array(t.String(), { description: 'Where the image will be pushed if every test passes.' }),
})

export const JobRef = t.Object({ id: JobIdRef }, { additionalProperties: false })

export const LogsQuery = t.Object(
  {
    id: JobIdRef,
    phase: t.Optional(Phase),
    task: t.Optional(t.String({ pattern: taskPattern, description: 'One task: build, test-N or publish.' })),
    tail: t.Optional(
      t.Integer({ minimum: 0, maximum: 100000, description: 'Only the last N lines of each task (default 200; 0 for all).' }),
    ),
    grep: t.Optional(
      t.String({
        minLength: 1,
        maxLength: 512,
        description:
          'Only the lines that contain this text (case-insensitive), or match /regex/flags, e.g. "error" or "/^STEP \\d+/"; tail then counts matching lines.',
      }),
    ),
    failedOnly: t.Optional(t.Boolean({ description: 'Only the tasks that failed (not those Nomad stopped because another failed).' })),
  },
  { additionalProperties: false },
)

export const TaskLog = t.Object({
  task: t.String(),
  phase: Phase,
  state: t.String(),
  text: t.String({ description: "The task's output, stdout and stderr in the order written." }),
  truncated: t.Boolean({ description: 'True when earlier lines were left out (see tail).' }),
  exitCode: t.Optional(t.Integer({ description: "The task's exit code, once it has ended." })),
})

export const Logs = t.Object({
  id: JobId,
  status: JobState,
  failure: t.Optional(Failure),
  logs: t.Array(TaskLog),
})

export const CleanupQuery = t.Object(
  {
    id: t.Optional(JobIdRef),
    olderThanSeconds: t.Optional(t.Integer({ minimum: 0, description: 'Remove the finished jobs created longer ago than this.' })),
    all: t.Optional(t.Boolean({ description: 'true: remove every finished job, whatever its age.' })),
  },
  { additionalProperties: false },
)

export const CleanupResult = t.Object({
  removed: t.Array(t.String(), { description: 'Ids of finished jobs removed from Nomad.' }),
  kept: t.Array(t.Object({ id: t.String(), reason: t.String() })),
})

export const ListQuery = t.Object(
  {
    status: t.Optional(JobState),
    limit: t.Optional(t.Integer({ minimum: 1, maximum: 500, description: 'At most this many, newest first (default 50).' })),
  },
  { additionalProperties: false },
)

export const JobSummary = t.Object({
  id: t.String(),
  status: JobState,
  createdAt: t.String({ format: 'date-time' }),
  finishedAt: t.Optional(t.String({ format: 'date-time' })),
  repo: t.Optional(t.String({ description: 'The Git repository built; absent for an uploaded source.' })),
  source: t.Optional(t.String({ description: 'The uploaded source built (sha256:…); absent for a repo.' })),
  image: t.String(),
  reason: t.Optional(t.String()),
  ref: t.Optional(t.String()),
  tags: t.Optional(t.Array(t.String())),
  owner: t.Optional(t.String({ description: 'The client that submitted the build, when the server has client tokens.' })),
  queue: t.Optional(Queue),
})

/** runInImage's bounds: output kept per stream, and the command's time limit. */
export const RUN_LIMITS = { outputBytes: 64 * 1024, seconds: { default: 60, maximum: 600 } } as const

export const RunRequest = t.Object(
  {
    command: t.Union(
      [
        t.String({ minLength: 1, maxLength: limits.commandChars, description: "Run by the image's /bin/sh -c." }),
        t.Array(t.String({ maxLength: limits.commandChars }), { minItems: 1, maxItems: 256, description: 'Run as-is, for images without a shell.' }),
      ],
      { description: 'The command: a string for /bin/sh -c, or an array run as-is. E.g. "ls -la /app" or ["/app", "--version"].' },
    ),
    env: t.Optional(
      t.Record(t.String({ pattern: envNamePattern }), t.String({ maxLength: 4096 }), {
        additionalProperties: false,
        maxProperties: 64,
        description: 'Environment variables for the command.',
      }),
    ),
    timeoutSeconds: t.Optional(
      t.Integer({
        minimum: 1,
        maximum: RUN_LIMITS.seconds.maximum,
        default: RUN_LIMITS.seconds.default,
        description: `The command's time limit (default ${RUN_LIMITS.seconds.default}, at most ${RUN_LIMITS.seconds.maximum}).`,
      }),
    ),
  },
  { additionalProperties: false },
)

export const RunResult = t.Object({
  exitCode: t.Integer({ description: "The command's exit code; 124 when it ran out of time." }),
  timedOut: t.Boolean({ description: 'true: the command outlived timeoutSeconds and was stopped.' }),
  stdout: t.String(),
  stderr: t.String(),
  truncated: t.Boolean({ description: `true: a stream printed more than ${RUN_LIMITS.outputBytes} bytes; its first ${RUN_LIMITS.outputBytes} are here.` }),
  image: t.String({ description: 'Which image it ran in: "the built image", or "after step 3 of 4" for a build that failed at step 4.' }),
  imageId: t.String({ description: "The image's ID in the node's store." }),
  node: t.String({ description: 'The Nomad node that holds the image and ran the command.' }),
  durationSeconds: t.Number(),
})

export const SourceUpload = t.Object({
  source: t.String({ pattern: sourcePattern, description: 'The upload id: give it as `source` in a build request.' }),
  size: t.Integer({ description: 'Bytes received (the archive as sent, compressed or not).' }),
  expiresAt: t.String({
    format: 'date-time',
    description: 'Submit a build before this time; a build queued or running keeps its source until it has fetched it.',
  }),
})

export const JobList = t.Object({ jobs: t.Array(JobSummary) })

export const WaitQuery = t.Object(
  {
    id: JobIdRef,
    timeoutSeconds: t.Optional(
      t.Integer({
        minimum: 1,
        maximum: WAIT_SECONDS.maximum,
        description: `Give up waiting after this long and return the current status (default ${WAIT_SECONDS.default}).`,
      }),
    ),
    until: t.Optional(
      t.Union([t.Literal('change'), t.Literal('final')], {
        description: 'change (default): return when the status leaves its current value; final: only at SUCCEEDED or FAILED, once every task has ended.',
      }),
    ),
  },
  { additionalProperties: false },
)

const Seconds = (description: string) => t.Integer({ description })

export const ServerInfo = t.Object({
  version: t.String(),
  profile: t.Union([t.Literal('docker'), t.Literal('raw_exec')], {
    description: "How the build tasks run: docker (the project's builder image under the Docker driver) or raw_exec (the node's own buildah).",
  }),
  repo: t.Object({
    forms: t.Array(t.String(), { description: 'The URL forms a repo may take on this server; anything else is refused.' }),
  }),
  registries: t.Object({
    insecure: t.Array(t.String(), {
      description: 'Registries pushed to over plain HTTP (dev registries). Any other registry is pushed to over TLS, with secrets.registry for its credentials.',
    }),
  }),
  secrets: t.Object({
    prefixes: t.Array(t.String(), {
      description: 'The reference prefixes you may use in secrets ("vault:…" or "nomad:…"); empty: you may use none.',
    }),
  }),
  limits: t.Object({
    bodyBytes: t.Integer({ description: 'The largest request body (REST, and MCP over HTTP).' }),
    requestBytes: t.Integer({ description: 'The largest build request as JSON (UTF-8 bytes), whatever the transport: the tasks carry it in their environment.' }),
    testCommands: t.Integer(),
    commandChars: t.Integer({ description: 'The longest test command (or runInImage command), in characters: a shell-form string, or each argument of an exec-form array.' }),
    tags: t.Integer(),
    buildArgs: t.Integer(),
    testEnv: t.Integer(),
    gpus: t.Integer({ description: 'GPUs one test command may ask for.' }),
    phaseSeconds: Seconds('The longest time limit of a phase: timeouts.build, test.timeout, timeouts.publish.'),
    waitSeconds: Seconds('The longest waitForJob timeoutSeconds.'),
    cpu: t.Object({ minimum: t.Integer(), maximum: t.Integer() }, { description: 'resources.cpu, MHz.' }),
    memory: t.Object({ minimum: t.Integer(), maximum: t.Integer() }, { description: 'resources.memory, MB.' }),
    maxInFlight: t.Optional(t.Integer({ description: 'Builds you may have queued or running at once; absent: no limit.' })),
    sourceBytes: t.Integer({ description: 'The largest upload POST /v1/sources takes (a tar or tar.gz of the directory to build).' }),
    sourceSeconds: t.Integer({ description: 'How long an upload waits for a build that uses it.' }),
  }),
  defaults: t.Object({
    timeouts: t.Object({ build: Seconds('Clone and build.'), test: Seconds('Each test command.'), publish: Seconds('The push.') }),
    resources: t.Object({ cpu: t.Integer({ description: 'MHz.' }), memory: t.Integer({ description: 'MB.' }) }),
    waitSeconds: Seconds("waitForJob's timeoutSeconds."),
  }),
  gpuNodePool: t.Optional(t.String({ description: 'The node pool builds go to when their tests ask for GPUs.' })),
})

export type SubmitResult = Static<typeof SubmitResult>
export type LogsQuery = Static<typeof LogsQuery>
export type TaskLog = Static<typeof TaskLog>
export type Logs = Static<typeof Logs>
export type CleanupQuery = Static<typeof CleanupQuery>
export type CleanupResult = Static<typeof CleanupResult>
export type ListQuery = Static<typeof ListQuery>
export type JobSummary = Static<typeof JobSummary>
export type JobList = Static<typeof JobList>
export type WaitQuery = Static<typeof WaitQuery>
export type ServerInfo = Static<typeof ServerInfo>
export type SourceUpload = Static<typeof SourceUpload>
export type RunRequest = Static<typeof RunRequest>
export type RunResult = Static<typeof RunResult>
