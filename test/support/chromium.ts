// Headless Chromium (Debian's `chromium` package) for the browser tests: installed on demand when we are root.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const chromiumPath = process.env.NBS_CHROMIUM ?? '/usr/bin/chromium'

let ensured: string | undefined

/** The Chromium binary; installs Debian's package with apt-get if it is missing and we run as root, else throws. */
export function ensureChromium(): string {
  if (ensured) return ensured
  if (!existsSync(chromiumPath)) {
    if (process.getuid?.() !== 0)
      throw new Error(`${chromiumPath} is missing and we are not root: install it with \`apt-get install -y --no-install-recommends chromium\``)
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
    const run = (args: string[]) => {
      const r = spawnSync('apt-get', args, { env, encoding: 'utf8', timeout: 600_000 })
      return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` }
    }
    let r = run(['install', '-y', '--no-install-recommends', 'chromium'])
    // A fresh container may have no package lists yet.
    if (!r.ok) r = run(['update']).ok ? run(['install', '-y', '--no-install-recommends', 'chromium']) : r
    if (!r.ok || !existsSync(chromiumPath)) throw new Error(`could not install chromium with apt-get:\n${r.out.slice(-4000)}`)
  }
  return (ensured = chromiumPath)
}

export interface ChromiumRun {
  status: number | null
  stdout: string
  stderr: string
}

/**
 * One headless Chromium run against `url` with `extra` flags (e.g. --dump-dom, --screenshot=…), in a throwaway
 * profile. Asynchronous on purpose: the server under test may live in this very process.
 */
export async function headless(url: string, extra: string[], timeoutMs = 90_000): Promise<ChromiumRun> {
  const bin = ensureChromium()
  const profile = mkdtempSync(join(tmpdir(), 'nbs-chromium-'))
  try {
    const child = Bun.spawn(
      [
        bin,
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-dev-shm-usage',
        `--user-data-dir=${profile}`,
        '--virtual-time-budget=10000',
        ...extra,
        url,
      ],
      { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' },
    )
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    try {
      const [stdout, stderr, status] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
      if (child.signalCode === 'SIGKILL') throw new Error(`chromium did not finish within ${timeoutMs} ms:\n${stderr.slice(-2000)}`)
      return { status, stdout, stderr }
    } finally {
      clearTimeout(timer)
    }
  } finally {
    rmSync(profile, { recursive: true, force: true })
  }
}
