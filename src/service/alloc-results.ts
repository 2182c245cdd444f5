// Reading a finished allocation's results: the small files the phase scripts leave (src/jobs/results.ts).
import { planTests } from '../jobs/plan'
import type { JobRequest } from '../jobs/request'
import { RESULT_FILES, RESULTS_DIR, testExitFile } from '../jobs/results'
import type { AllocFiles } from '../jobs/status'
import type { NomadClient } from '../nomad/client'
import { nomadCall } from './nomad-call'

/**
 * One `ls` of the results folder, then `fs/cat` of only the files it lists: Nomad answers 200
 * with an error text for a missing file (conformance: client-fs). null when the folder is gone:
 * every phase script creates it first and publish always runs, so missing means collected.
 */
export async function readAllocResults(nomad: NomadClient, allocId: string, request: JobRequest): Promise<AllocFiles | null> {
  const listed = await nomadCall(() => nomad.fs.ls(allocId, RESULTS_DIR))
  if (!listed) return null
  const names = new Set(listed.filter((f) => !f.IsDir).map((f) => f.Name))
  const cat = (name: string) => (names.has(name) ? nomadCall(() => nomad.fs.cat(allocId, `${RESULTS_DIR}/${name}`)) : undefined)
  const tests = planTests(request)
  const [digest, published, skipped, commit, infrastructure, ...exits] = await Promise.all([
    cat(RESULT_FILES.digest),
    cat(RESULT_FILES.published),
    cat(RESULT_FILES.skipped),
    cat(RESULT_FILES.commit),
    cat(RESULT_FILES.infrastructure),
    ...tests.map((t) => cat(testExitFile(t.task))),
  ])
  return { digest, published, skipped, commit, infrastructure, exits: Object.fromEntries(tests.map((t, i) => [t.task, exits[i]])) }
}
