// The dev stack for integration and end-to-end tests: started once (idempotently), then used for real.
// Its profile is NBS_DEV_PROFILE's (raw_exec by default), so the same files run in either profile.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../src/config'
import { devServiceEnv, devStack, devUp, devUrls } from '../../src/dev/stack'
import { manifestDigest } from '../../src/dev/registry'
import { publishRepo } from '../../src/dev/repos'
import { nomadJobId } from '../../src/jobs/ids'
import { NomadClient } from '../../src/nomad/client'
import { BuildService } from '../../src/service/build-service'

export const stack = devStack()
export const profile = stack.profile
export const urls = devUrls(stack)
export const serviceEnv = devServiceEnv(stack)
export const config = loadConfig({ ...process.env, ...serviceEnv })
export const nomad = new NomadClient({ address: config.nomadAddr })
export const service = new BuildService(nomad, config)

let started: Promise<void> | undefined
export const ensureStack = () => (started ??= devUp(stack, () => {}))

/** A repository on the dev Git server made from `files`; returns its git:// URL. */
export async function gitRepo(name: string, files: Record<string, string>): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'nbs-repo-'))
  for (const [path, text] of Object.entries(files)) writeFileSync(join(dir, path), text)
  await publishRepo(stack.paths.git, name, dir)
  return `${urls.git}/${name}`
}

/** The digest the registry serves for a tag, or undefined when it has no such tag. */
export const registryDigest = (image: string, tag: string) => manifestDigest(urls.registry, image.slice(image.indexOf('/') + 1), tag)

export const busyboxDockerfile = (...steps: string[]) =>
  ['FROM scratch', 'COPY busybox /bin/busybox', 'RUN ["/bin/busybox", "sh", "-c", "/bin/busybox --install -s /bin"]', ...steps, ''].join('\n')

/** A GET on the docker profile's engine, the one the agent's docker driver runs the tasks on. */
export async function dockerGet<T>(path: string): Promise<T> {
  const host = stack.docker?.host
  if (!host) throw new Error('the raw_exec profile has no Docker engine')
  const res = host.startsWith('unix://')
    ? await fetch(`http://docker${path}`, { unix: host.slice('unix://'.length) })
    : await fetch(`${host.replace(/^tcp:/, 'http:')}${path}`)
  if (!res.ok) throw new Error(`docker GET ${path}: ${res.status} ${await res.text()}`)
  return (await res.json()) as T
}

export interface TaskContainer {
  Id: string
  Labels: Record<string, string>
  Mounts: { Type: string; Name?: string }[]
  /** The Nomad job whose allocation ran it. */
  job: string
}

/**
 * The containers, running or not, that Nomad's docker driver made for the jobs `jobIds`. Nomad
 * labels each with its allocation (its job only where the driver's extra_labels asks for it).
 */
export async function taskContainers(jobIds: string[]): Promise<TaskContainer[]> {
  const jobOf = new Map<string, string>()
  for (const job of jobIds) for (const a of (await nomad.jobs.allocations(job)).data) jobOf.set(a.ID, job)
  const filters = encodeURIComponent(JSON.stringify({ label: ['com.hashicorp.nomad.alloc_id'] }))
  const all = await dockerGet<Omit<TaskContainer, 'job'>[]>(`/containers/json?all=1&filters=${filters}`)
  return all.flatMap((c) => {
    const job = jobOf.get(c.Labels['com.hashicorp.nomad.alloc_id'] ?? '')
    return job ? [{ ...c, job }] : []
  })
}

/**
 * The store (the node's cache volume) a raw_exec build used: the build records its node's path in
 * the alloc dir (common.sh: open_store). On a cluster each node has its own, not the stack's.
 */
export async function buildStore(id: string): Promise<string> {
  const [alloc] = (await nomad.jobs.allocations(nomadJobId(id))).data.sort((a, b) => b.ModifyIndex - a.ModifyIndex)
  if (!alloc) throw new Error(`build ${id} has no allocation`)
  return (await nomad.fs.cat(alloc.ID, 'alloc/nbs/store-dir')).trim()
}
