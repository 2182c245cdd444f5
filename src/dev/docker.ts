// The docker profile's pieces of the dev stack: Debian's dockerd on a socket under the state dir
// (unless DOCKER_HOST names a running engine), and the builder image in the dev registry.
import { chownSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { builderRef } from '../builder/definition'
import { buildBuilderImage, mmdebstrapProgress, pushArchive } from '../builder/image'
import type { DevPaths, DevPorts } from './paths'
import type { Daemon } from './process'
import { manifestDigest } from './registry'

export const dockerSocket = (paths: DevPaths) => join(paths.state, 'docker.sock')

/** True when the engine at `host` (unix:// or tcp://) answers its ping. */
export const dockerPing = (host: string) => async () => {
  const signal = AbortSignal.timeout(2000)
  const res = host.startsWith('unix://')
    ? await fetch('http://docker/_ping', { unix: host.slice('unix://'.length), signal })
    : await fetch(`${host.replace(/^tcp:/, 'http:')}/_ping`, { signal })
  return res.ok
}

export function dockerdDaemon(paths: DevPaths): Daemon {
  const exec = join(paths.state, 'docker-exec')
  return {
    name: 'docker',
    command: '/usr/sbin/dockerd',
    // No iptables rules and no bridge: tasks use the host's network (NBS_DOCKER_NETWORK=host),
    // and the engine listens on its unix socket alone, never on TCP.
    args: ['--iptables=false', '--bridge=none', '--data-root', join(paths.state, 'docker'), '--exec-root', exec, '-H', `unix://${dockerSocket(paths)}`, '--pidfile', join(exec, 'dockerd.pid')],
  }
}

/** The docker profile's builder image as the dev registry serves it. */
export const devBuilderRef = (ports: DevPorts) => builderRef(`127.0.0.1:${ports.registry}`)

/** Builds the builder image once per definition (cached) and pushes it unless the dev registry has it. */
export async function publishDevBuilder(ports: DevPorts, log: (m: string) => void): Promise<void> {
  const ref = devBuilderRef(ports)
  const [repo = '', tag = ''] = ref.slice(ref.indexOf('/') + 1).split(':')
  if (await manifestDigest(`127.0.0.1:${ports.registry}`, repo, tag)) return log(`builder image: ${ref} (in the registry)`)
  await pushArchive(await buildBuilderImage(log, mmdebstrapProgress('builder image', log)), [ref], false)
  log(`builder image: ${ref} (pushed)`)
}

/** The task user of the builder image (uid 1000) writes the node's Buildah store. */
export function cacheWritableByBuilder(paths: DevPaths): void {
  if (statSync(paths.cache).uid === 1000) return
  try {
    chownSync(paths.cache, 1000, 1000)
  } catch (e) {
    throw new Error(`the cache volume ${paths.cache} must be writable by uid 1000 (the builder image's user): sudo chown 1000:1000 ${paths.cache} (${(e as Error).message})`)
  }
}

/**
 * dockerd leaves its default network namespace mounted under the exec root when it stops; until
 * it is unmounted the state dir cannot be removed.
 */
export function releaseDockerMounts(paths: DevPaths): void {
  const exec = join(paths.state, 'docker-exec')
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((m) => m.startsWith(`${exec}/`))
  for (const m of mounts.reverse()) Bun.spawnSync(['umount', m])
}
