// The Debian packages the dev stack and the builder image need: installed on first use when running as root.
import { existsSync } from 'node:fs'

export interface Need {
  bin: string
  pkg: string
}

export const devNeeds: Need[] = [
  { bin: '/usr/bin/buildah', pkg: 'buildah' },
  { bin: '/usr/bin/skopeo', pkg: 'skopeo' },
  { bin: '/usr/bin/git', pkg: 'git' },
  { bin: '/bin/busybox', pkg: 'busybox-static' },
  { bin: '/usr/bin/docker-registry', pkg: 'docker-registry' },
]

export const dockerNeeds: Need[] = [{ bin: '/usr/sbin/dockerd', pkg: 'docker.io' }]

export async function ensurePackages(log: (s: string) => void, needs: Need[] = devNeeds): Promise<void> {
  const missing = needs.filter((n) => !existsSync(n.bin)).map((n) => n.pkg)
  if (missing.length === 0) return
  if (process.getuid?.() !== 0)
    throw new Error(`missing Debian packages: ${missing.join(' ')}; install them with: sudo apt-get install -y ${missing.join(' ')}`)
  log(`installing ${missing.join(' ')} (apt-get)`)
  const run = async (args: string[]) => {
    const p = Bun.spawn(args, { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, stdout: 'ignore', stderr: 'pipe' })
    if ((await p.exited) !== 0) throw new Error(`${args.join(' ')} failed: ${await new Response(p.stderr).text()}`)
  }
  await run(['apt-get', 'update', '-q'])
  await run(['apt-get', 'install', '-y', '-q', '--no-install-recommends', ...missing])
}
