// What the dashboard reads out of Buildah's build log: cache hits (or the reuse of a whole image), and which lines
// belong to the failing step.

// Buildah 1.28 prints `STEP n/m: INSTRUCTION` before each step and `--> Using cache <id>` when a step's layer came
// from the store (seen in the dev stack's hello-world builds).
const STEP = /^STEP (\d+)\/(\d+): /
const CACHE_HIT = /^--> Using cache /
// build.sh's line when the node names the image it built from the same tree and settings, Buildah not run.
const REUSED = /^==> nbs: reusing image ([0-9a-f]{64}):/

/** Steps in the build log, how many of them Buildah took from its layer cache, and the image reused whole, if one was. */
export function cacheHits(buildLog: string): { steps: number; cached: number; reused?: string } {
  let steps = 0
  let cached = 0
  let reused: string | undefined
  for (const line of buildLog.split('\n')) {
    if (STEP.test(line)) steps++
    else if (CACHE_HIT.test(line)) cached++
    else reused = REUSED.exec(line)?.[1] ?? reused
  }
  return reused ? { steps, cached, reused } : { steps, cached }
}

export interface StepRef {
  index: number
  total: number
}

/**
 * The lines [from, to) of the failing step: from its `STEP n/m:` line to the next step or the end. The step the
 * status names, else the last one the log began: a failed build stops at the step that failed.
 */
export function failingStepLines(lines: string[], step?: StepRef): { from: number; to: number } | undefined {
  let from = -1
  lines.forEach((line, i) => {
    const m = STEP.exec(line)
    if (m && (!step || (Number(m[1]) === step.index && Number(m[2]) === step.total))) from = i
  })
  if (from < 0) return undefined
  const next = lines.findIndex((line, i) => i > from && STEP.test(line))
  return { from, to: next < 0 ? lines.length : next }
}
