// What a caller learns about a build: the derived status, each phase's timing, the failure or the result.
import { type Static, Type as t } from '@sinclair/typebox'
import { JobRequest } from './request'

export const JobState = t.Union(
  [
    t.Literal('PENDING'),
    t.Literal('BUILDING'),
    t.Literal('TESTING'),
    t.Literal('PUBLISHING'),
    t.Literal('SUCCEEDED'),
    t.Literal('FAILED'),
  ],
  { description: 'PENDING → BUILDING → TESTING → PUBLISHING → SUCCEEDED, or FAILED from any of them.' },
)

export const FailureReason = t.Union(
  [
    t.Literal('build_failed'),
    t.Literal('test_failed'),
    t.Literal('publish_failed'),
    t.Literal('killed'),
    t.Literal('timeout'),
    t.Literal('infrastructure'),
  ],
  { description: 'Why a FAILED job failed.' },
)

export const Phase = t.Union([t.Literal('build'), t.Literal('test'), t.Literal('publish')])

export const TaskRun = t.Object({
  task: t.String({ description: 'Nomad task name: build, test-N or publish.' }),
  phase: Phase,
  state: t.Union(
    [t.Literal('pending'), t.Literal('running'), t.Literal('succeeded'), t.Literal('failed'), t.Literal('killed'), t.Literal('skipped'), t.Literal('lost')],
    {
      description:
        'skipped: never started because an earlier phase failed or the job was killed; for publish, also: ran and declined to push for that reason. lost: it was running when its node stopped answering (failure cause node_lost); what it did after is not known, and it pushes nothing.',
    },
  ),
  command: t.Optional(t.String({ description: 'For test tasks: the command as submitted.' })),
  startedAt: t.Optional(t.String({ format: 'date-time' })),
  finishedAt: t.Optional(t.String({ format: 'date-time' })),
  exitCode: t.Optional(t.Integer()),
})

export const FailureCause = t.Union(
  [
    t.Literal('clone_failed'),
    t.Literal('ref_not_found'),
    t.Literal('source_unavailable'),
    t.Literal('context_invalid'),
    t.Literal('dockerfile_invalid'),
    t.Literal('base_image_unavailable'),
    t.Literal('step_failed'),
    t.Literal('secret_unavailable'),
    t.Literal('test_failed'),
    t.Literal('test_timeout'),
    t.Literal('publish_rejected'),
    t.Literal('registry_unreachable'),
    t.Literal('killed'),
    t.Literal('timeout'),
    t.Literal('node_lost'),
    t.Literal('placement'),
    t.Literal('node_unfit'),
  ],
  {
    description: [
      'What failed, read from what Git, Buildah and Nomad said:',
      'clone_failed (Git could not fetch the repository), ref_not_found, source_unavailable (the uploaded source could not be downloaded: resubmit),',
      'context_invalid (the context or Dockerfile is missing or leaves the repository), dockerfile_invalid (Buildah could not parse an instruction),',
      'base_image_unavailable (a FROM image cannot be pulled), step_failed (a build step failed), secret_unavailable (a secret reference the task could not read),',
      'test_failed, test_timeout, publish_rejected (the registry refused the push: auth, denied, unknown blob), registry_unreachable,',
      'killed, timeout (a build or publish time limit), node_lost, placement (no node can take the build), node_unfit (the node cannot run the task).',
    ].join(' '),
  },
)

export const FailedStep = t.Object(
  {
    index: t.Integer({ minimum: 1, description: 'Its number, as Buildah counts: STEP 4/4.' }),
    total: t.Integer({ minimum: 1, description: 'The steps of its stage.' }),
    instruction: t.String({ description: 'The instruction as Buildah printed it, e.g. RUN make test.' }),
    line: t.Optional(t.Integer({ minimum: 1, description: 'The Dockerfile line the step starts on, when the build could tell.' })),
    stage: t.Optional(
      t.Object(
        { index: t.Integer({ minimum: 1 }), total: t.Integer({ minimum: 1 }) },
        { description: 'In a multi-stage build, its stage as Buildah counts them: [2/2] STEP 1/3.' },
      ),
    ),
  },
  { description: 'The build step that failed, as Buildah numbered it.' },
)

export const Failure = t.Object({
  reason: FailureReason,
  phase: t.Optional(Phase),
  message: t.String({ description: 'What went wrong, in words.' }),
  cause: t.Optional(FailureCause),
  summary: t.Optional(t.String({ description: 'The cause in one sentence, with the words of the program that failed (Buildah, Git, the registry, Nomad).' })),
  hint: t.Optional(t.String({ description: 'What to change, where the cause suggests it: "did you mean RUN?".' })),
  step: t.Optional(FailedStep),
  exitCode: t.Optional(t.Integer({ description: 'The exit code of the failing step, command or task.' })),
  logTail: t.Optional(t.String({ description: 'The last lines of the failing task log.' })),
})

export const Result = t.Object({
  images: t.Array(t.String(), { description: 'Pushed references, registry/repository:tag.' }),
  digest: t.String({ pattern: '^sha256:[0-9a-f]{64}$', description: 'Manifest digest of the pushed image.' }),
  commit: t.Optional(t.String({ description: 'The Git commit that was built.' })),
})

export const Queue = t.Object(
  {
    waitingFor: t.String({ description: 'What the build waits for, in words: memory or CPU, and which nodes can hold it.' }),
    nodePool: t.String({ description: 'The Nomad node pool the build waits in.' }),
    since: t.String({ format: 'date-time', description: 'When the build was submitted.' }),
  },
  { description: 'Set while a PENDING build waits for capacity: Nomad places it as soon as running builds free enough.' },
)

export const JobStatus = t.Object({
  id: t.String(),
  status: JobState,
  createdAt: t.String({ format: 'date-time' }),
  finishedAt: t.Optional(t.String({ format: 'date-time' })),
  tasks: t.Array(TaskRun),
  queue: t.Optional(Queue),
  failure: t.Optional(Failure),
  result: t.Optional(Result),
  request: JobRequest,
})

export type JobState = Static<typeof JobState>
export type FailureReason = Static<typeof FailureReason>
export type FailureCause = Static<typeof FailureCause>
export type FailedStep = Static<typeof FailedStep>
export type Phase = Static<typeof Phase>
export type TaskRun = Static<typeof TaskRun>
export type Failure = Static<typeof Failure>
export type Result = Static<typeof Result>
export type Queue = Static<typeof Queue>
export type JobStatus = Static<typeof JobStatus>

export const isFinal = (s: JobState) => s === 'SUCCEEDED' || s === 'FAILED'
