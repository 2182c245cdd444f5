// runInImage: one bounded command in an ended build's image, as a short Nomad job on the node that
// holds it; the job is removed when done, whatever happened.
import type { Config } from '../config'
import { ServiceError } from '../errors'
import { RESULT_FILES, RESULTS_DIR } from '../jobs/results'
import { renderRunJob } from '../jobs/run-job'
import { isFinal, type JobStatus } from '../jobs/status-schema'
import type { NomadClient } from '../nomad/client'
import type { Allocation } from '../nomad/types'
import { nomadCall } from './nomad-call'
import { RUN_LIMITS, type RunRequest, type RunResult } from './schemas'

export interface EndedBuild {
  id: string
  owner?: string
  status: JobStatus
  alloc?: Allocation
}

// Beyond the command's own limit: placing the job, opening the store, reading the results.
const SLACK_MS = 90_000
const WAIT = '5s'

/** The ended allocation's result files this run needs, read as alloc-results does: ls, then cat what it lists. */
async function readFiles(nomad: NomadClient, allocId: string, names: string[]): Promise<Record<string, string> | null> {
  const listed = await nomadCall(() => nomad.fs.ls(allocId, RESULTS_DIR))
  if (!listed) return null
  const present = new Set(listed.filter((f) => !f.IsDir).map((f) => f.Name))
  const out: Record<string, string> = {}
  for (const name of names) if (present.has(name)) out[name] = await nomadCall(() => nomad.fs.cat(allocId, `${RESULTS_DIR}/${name}`))
  return out
}

/** Which image of the build, and where: the build's own results say so. */
async function imageOf(nomad: NomadClient, build: EndedBuild) {
  const { id, status, alloc } = build
  if (!isFinal(status.status))
    throw new ServiceError('conflict', `id: job ${id} is ${status.status}: runInImage looks inside an ended build; wait for it (waitForJob until final)`, 'id')
  if (!alloc) throw new ServiceError('not_found', `id: job ${id} never ran on a node (${status.failure?.message ?? status.status}): it built no image to look inside`, 'id')
  const files = await readFiles(nomad, alloc.ID, [RESULT_FILES.runImage, RESULT_FILES.storageDriver, RESULT_FILES.storeDir])
  if (!files)
    throw new ServiceError('not_found', `id: Nomad has collected job ${id}'s allocation, and with it where its image is: resubmit the build to look inside it`, 'id')
  const [imageId, step, steps] = (files[RESULT_FILES.runImage] ?? '').trim().split(/\s+/)
  if (!imageId)
    throw new ServiceError(
      'not_found',
      `id: job ${id} left no image to look inside: it stopped before any build step produced one (${status.failure?.message ?? status.status})`,
      'id',
    )
  return {
    imageId,
    label: step === steps ? 'the built image' : `after step ${step} of ${steps}`,
    storageDriver: (files[RESULT_FILES.storageDriver] ?? 'vfs').trim(),
    storeDir: files[RESULT_FILES.storeDir]?.trim(),
    nodeId: alloc.NodeID,
    node: alloc.NodeName || alloc.NodeID,
  }
}

export async function runInBuildImage(nomad: NomadClient, config: Config, build: EndedBuild, run: RunRequest, signal?: AbortSignal): Promise<RunResult> {
  const image = await imageOf(nomad, build)
  const seconds = run.timeoutSeconds ?? RUN_LIMITS.seconds.default
  const job = renderRunJob({ buildId: build.id, owner: build.owner, ...image, run, seconds, outputBytes: RUN_LIMITS.outputBytes }, config)
  const began = Date.now()
  await nomadCall(() => nomad.jobs.register(job, { enforceIndex: 0 }))
  try {
    const alloc = await ended(nomad, job.ID, image.node, began + seconds * 1000 + SLACK_MS, signal)
    const files = await readFiles(nomad, alloc.ID, [RESULT_FILES.runExit, RESULT_FILES.runStdout, RESULT_FILES.runStderr, RESULT_FILES.runTruncated, RESULT_FILES.runMissing])
    const missing = files?.[RESULT_FILES.runMissing]
    if (missing !== undefined)
      throw new ServiceError(
        'not_found',
        `id: the image of job ${build.id} (${image.label}) is no longer in node ${image.node}'s store (${missing.trim()}): the cache prune removes old images; resubmit the build to look inside it again`,
        'id',
      )
    const exit = files?.[RESULT_FILES.runExit]
    if (exit === undefined) throw new ServiceError('nomad_error', `the run on node ${image.node} ended without an exit code (allocation ${alloc.ID} ${alloc.ClientStatus}): see its log in Nomad`)
    const exitCode = Number(exit.trim())
    return {
      exitCode,
      // timeout exits 124 when the limit fires, 137 when it had to kill.
      timedOut: exitCode === 124 || exitCode === 137,
      stdout: files?.[RESULT_FILES.runStdout] ?? '',
      stderr: files?.[RESULT_FILES.runStderr] ?? '',
      truncated: files?.[RESULT_FILES.runTruncated] !== undefined,
      image: image.label,
      imageId: image.imageId,
      node: image.node,
      durationSeconds: Math.round((Date.now() - began) / 100) / 10,
    }
  } finally {
    await nomadCall(() => nomad.jobs.deregister(job.ID, { purge: true })).catch(() => {})
  }
}

/** The run's allocation once it has ended; an error naming the node when Nomad cannot place it there. */
async function ended(nomad: NomadClient, jobId: string, node: string, deadline: number, signal?: AbortSignal): Promise<Allocation> {
  let index = 0
  while (Date.now() < deadline) {
    const r = await nomadCall(() => nomad.jobs.allocations(jobId, { waitIndex: index, waitTime: WAIT, signal }))
    index = r.meta.lastIndex
    const stub = r.data.sort((a, b) => b.ModifyIndex - a.ModifyIndex)[0]
    if (stub && ['complete', 'failed', 'lost'].includes(stub.ClientStatus)) return (await nomadCall(() => nomad.allocations.info(stub.ID))).data
    if (!stub) {
      const evals = (await nomadCall(() => nomad.jobs.evaluations(jobId))).data
      if (evals.some((e) => e.FailedTGAllocs && Object.keys(e.FailedTGAllocs).length > 0))
        throw new ServiceError(
          'not_found',
          `id: node ${node}, which holds the image, cannot take the run now (it is down, gone, or full): resubmit the build to look inside it elsewhere`,
          'id',
        )
    }
  }
  throw new ServiceError('nomad_error', `the run on node ${node} did not end within its time limit and ${SLACK_MS / 1000} s more: Nomad may be overloaded`)
}
