// The Debian packages the dev stack runs: installed on first use when running as root.
import { existsSync } from 'node:fs'

const needs: { bin: string; pkg: string }[] = [
  { bin: '/usr/bin/buildah', pkg: 'buildah' },
  { bin: '/usr/bin/skopeo', pkg: 'skopeo' },
  { bin: '/usr/bin/git', pkg: 'git' },
  { bin: '/bin/busybox', pkg: 'busybox-static' },
  { bin: '/usr/bin/docker-registry', pkg: 'docker-registry' },
]

export async function ensurePackages(log: (s: string) => void): Promise<void> {
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
