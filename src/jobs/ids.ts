// Build ids and the Nomad job ids derived from them: the prefix marks the service's own jobs.

export const JOB_PREFIX = 'nbs-'

/**
 * The keys of a build job's Meta: its build id, the request as submitted, when, by which client,
 * and its cache key (render.ts: cacheKeyOf), which the next build of the same source looks for.
 */
export const META = { id: 'nbs.id', request: 'nbs.request', created: 'nbs.created', owner: 'nbs.owner', cacheKey: 'nbs.cache-key' } as const

export const idPattern = '^[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$'

/** What a caller may name a job by: its build id, or the Nomad job id (nbs-…) that Nomad's own tools show. */
export const jobRefPattern = '^(?:nbs-)?[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$'

export const taskPattern = '^(build|publish|test-[0-9]+)$'

/** Sortable by submission time, unique enough across replicas (24 random bits per second). */
export function newBuildId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)
  const rand = crypto.getRandomValues(new Uint8Array(3))
  return `${stamp}-${Buffer.from(rand).toString('hex')}`
}

export const nomadJobId = (id: string) => JOB_PREFIX + id
const isBuildId = (s: string) => new RegExp(idPattern).test(s)
/** The build a Nomad job is, or undefined for any other job (another service's, or a runInImage run). */
export const buildIdOf = (nomadId: string) => {
  const rest = nomadId.startsWith(JOB_PREFIX) ? nomadId.slice(JOB_PREFIX.length) : undefined
  return rest !== undefined && isBuildId(rest) ? rest : undefined
}

/** runInImage's jobs: the build they run in, then a random part (several runs of one build may overlap). */
export const RUN_PREFIX = `${JOB_PREFIX}run-`
export const runJobId = (buildId: string) => `${RUN_PREFIX}${buildId}-${Buffer.from(crypto.getRandomValues(new Uint8Array(3))).toString('hex')}`
/** A job reference (build id or Nomad job id) as the build id. */
export const buildIdOfRef = (ref: string) => buildIdOf(ref) ?? ref
