// Inputs and outputs of every service operation: the one source for MCP tools, REST routes and the CLI.
import { type Static, Type as t } from '@sinclair/typebox'
import { idPattern } from '../jobs/ids'
import { JobRequest } from '../jobs/request'
import { JobState, JobStatus, Phase } from '../jobs/status-schema'

export { JobRequest, JobStatus, JobState, Phase }

const JobId = t.String({ pattern: idPattern, description: 'Job id as returned by submitJob, e.g. 20261125-123456-a1b2c3.' })

export const SubmitResult = t.Object({
  id: JobId,
  status: JobState,
  createdAt: t.String({ format: 'date-time' }),
  images: t.Array(t.String(), { description: 'Where the image will be pushed if every test passes.' }),
})

export const JobRef = t.Object({ id: JobId }, { additionalProperties: false })

export const LogsQuery = t.Object(
  {
    id: JobId,
    phase: t.Optional(Phase),
    task: t.Optional(t.String({ pattern: '^(build|publish|test-[0-9]+)$', description: 'One task: build, test-N or publish.' })),
    tail: t.Optional(
      t.Integer({ minimum: 0, maximum: 100000, description: 'Only the last N lines of each task (default 200; 0 for all).' }),
    ),
  },
  { additionalProperties: false },
)

export const TaskLog = t.Object({
  task: t.String(),
  phase: Phase,
  state: t.String(),
  text: t.String({ description: "The task's output, stdout and stderr in the order written." }),
  truncated: t.Boolean({ description: 'True when earlier lines were left out (see tail).' }),
})

export const Logs = t.Object({ id: JobId, status: JobState, logs: t.Array(TaskLog) })

export const CleanupQuery = t.Object(
  {
    id: t.Optional(JobId),
    olderThanSeconds: t.Optional(
      t.Integer({ minimum: 0, description: 'Without id: remove finished jobs older than this (default 0: all finished).' }),
    ),
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
  repo: t.String(),
  image: t.String(),
  reason: t.Optional(t.String()),
})

export const JobList = t.Object({ jobs: t.Array(JobSummary) })

export const WaitQuery = t.Object(
  {
    id: JobId,
    timeoutSeconds: t.Optional(
      t.Integer({ minimum: 1, maximum: 600, description: 'Give up waiting after this long and return the current status (default 60).' }),
    ),
    until: t.Optional(
      t.Union([t.Literal('change'), t.Literal('final')], {
        description: 'change (default): return when the status leaves its current value; final: only at SUCCEEDED or FAILED, once every task has ended.',
      }),
    ),
  },
  { additionalProperties: false },
)

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
