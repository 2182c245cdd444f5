// runInImage's job: one task on the node whose store holds the image, running one command in it.
import type { Job } from '../nomad/types'
import type { RunRequest } from '../service/schemas'
import { META, runJobId } from './ids'
import { groupOf, phaseTask, type RenderConfig } from './render'

export const RUN_META = { of: 'nbs.run-of' } as const
// The command's limit is the run script's own (timeout); the task's bound only catches a hung store.
const TASK_SLACK_SECONDS = 60

export interface RunInput {
  buildId: string
  owner?: string
  /** The Nomad node whose store holds the image. */
  nodeId: string
  imageId: string
  /** The store driver the build chose on that node: the run must open the same store. */
  storageDriver: string
  /** raw_exec: where the build found that node's store (its host volume's path); docker mounts it. */
  storeDir?: string
  run: RunRequest
  seconds: number
  outputBytes: number
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64')
const b64List = (items: string[]) => items.map((s) => (s === '' ? '-' : b64(s))).join(' ')

export function renderRunJob(input: RunInput, config: RenderConfig): Job {
  const { run } = input
  const id = runJobId(input.buildId)
  const task = phaseTask(config, {
    name: 'run',
    script: 'run',
    timeout: input.seconds + TASK_SLACK_SECONDS,
    cpu: 200,
    memory: 1024,
    env: {
      NBS_RUN_IMAGE: input.imageId,
      NBS_RUN_STORAGE_DRIVER: input.storageDriver,
      ...(config.profile === 'raw_exec' && input.storeDir ? { NBS_STORE_DIR: input.storeDir } : {}),
      NBS_RUN_SECONDS: String(input.seconds),
      NBS_RUN_OUTPUT_BYTES: String(input.outputBytes),
      NBS_B64_COMMAND: typeof run.command === 'string' ? b64(run.command) : '',
      NBS_B64_ARGV: Array.isArray(run.command) ? b64List(run.command) : '',
      NBS_B64_RUN_ENV: b64List(Object.entries(run.env ?? {}).map(([k, v]) => `${k}=${v}`)),
    },
  })
  const meta: Record<string, string> = { [RUN_META.of]: input.buildId }
  if (input.owner) meta[META.owner] = input.owner
  return {
    ID: id,
    Name: id,
    Type: 'batch',
    Namespace: config.namespace,
    Datacenters: config.datacenters,
    Meta: meta,
    // Only that node has the image: a run elsewhere would find nothing to start from.
    Constraints: [{ LTarget: '${node.unique.id}', RTarget: input.nodeId, Operand: '=' }],
    TaskGroups: [groupOf(config, [task])],
  }
}
