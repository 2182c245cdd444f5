// A second dev stack with every port moved, while other listeners hold the default ports: `dev up`
// refuses the defaults, and `make demo` and an end-to-end suite pass on the moved ports, so nothing
// of theirs reaches for a default port. It all runs in a network namespace of its own, where the
// default ports are free to hold whatever stack the host runs on them.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { devDown, devStack, serverComponent } from '../../src/dev/stack'

const projectDir = resolve(import.meta.dir, '../..')
const canUnshare = Bun.spawnSync(['unshare', '--net', 'true']).exitCode === 0

const defaults = { NBS_DEV_NOMAD_PORT: 4646, NBS_DEV_REGISTRY_PORT: 5000, NBS_DEV_GIT_PORT: 9418, NBS_DEV_SERVER_PORT: 8080 }
const moved = { NBS_DEV_NOMAD_PORT: '46460', NBS_DEV_REGISTRY_PORT: '50500', NBS_DEV_GIT_PORT: '49418', NBS_DEV_SERVER_PORT: '48080' }

// Listeners that would each fool or break a stack that used a default port: a Nomad that never
// answers, a registry and a server that answer 200 to anything, a Git server that hangs up.
const holderScript = `
const ok = () => Response.json([{ Status: 'ready' }])
Bun.listen({ hostname: '127.0.0.1', port: ${defaults.NBS_DEV_NOMAD_PORT}, socket: { data() {} } })
Bun.serve({ hostname: '127.0.0.1', port: ${defaults.NBS_DEV_REGISTRY_PORT}, fetch: ok })
Bun.listen({ hostname: '127.0.0.1', port: ${defaults.NBS_DEV_GIT_PORT}, socket: { open(s) { s.end() }, data() {} } })
Bun.serve({ hostname: '127.0.0.1', port: ${defaults.NBS_DEV_SERVER_PORT}, fetch: ok })
console.log('holding')
`

/**
 * The environment of the stack under test: none of the caller's stack settings, the raw_exec
 * profile, and no outer make's variables (under `make test`, a nested make would add its
 * "Leaving directory" line after the demo's last one).
 */
function stackEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue
    if (k.startsWith('NBS_') && k !== 'NBS_NOMADLITE_BIN' && k !== 'NBS_NOMAD_BIN') continue
    if (['DOCKER_HOST', 'NOMAD_ADDR', 'NOMAD_TOKEN', 'MAKEFLAGS', 'MFLAGS', 'MAKELEVEL'].includes(k)) continue
    env[k] = v
  }
  return { ...env, ...extra }
}

let holder: ReturnType<typeof spawn> | undefined
const states: string[] = []
let stackB: ReturnType<typeof devStack> | undefined

/** Runs `cmd` in the namespace, in its own process group, killed whole at `timeoutMs`. */
async function inNetns(cmd: string[], env: Record<string, string>, timeoutMs: number) {
  const child = spawn('nsenter', [`--net=/proc/${holder?.pid}/ns/net`, '--', ...cmd], { cwd: projectDir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (b) => (stdout += b))
  child.stderr?.on('data', (b) => (stderr += b))
  const timer = setTimeout(() => {
    try {
      process.kill(-(child.pid as number), 'SIGKILL')
    } catch {}
  }, timeoutMs)
  const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)))
  clearTimeout(timer)
  return { stdout, stderr, code }
}

beforeAll(async () => {
  if (!canUnshare) return
  holder = spawn('unshare', ['--net', '--', 'sh', '-c', 'ip link set lo up && exec "$0" -e "$1"', process.execPath, holderScript], { detached: true, stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise<void>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error('the listeners on the default ports did not start within 10 s')), 10_000)
    holder?.stdout?.on('data', (b) => String(b).includes('holding') && (clearTimeout(timer), ok()))
    holder?.on('exit', (code) => fail(new Error(`the listeners on the default ports exited (${code})`)))
  })
}, 20_000)

afterAll(async () => {
  if (stackB) await devDown(stackB, () => {}, [serverComponent()])
  if (holder?.pid) {
    try {
      process.kill(-holder.pid, 'SIGKILL')
    } catch {}
  }
  for (const dir of states) {
    // Buildah may leave its store's mounts behind; they keep the dir from being removed.
    const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(`${dir}/`))
    for (const m of mounts.reverse()) Bun.spawnSync(['umount', '-l', m])
    rmSync(dir, { recursive: true, force: true })
  }
}, 60_000)

describe.skipIf(!canUnshare)('a dev stack on moved ports beside listeners on the default ones (own network namespace; needs root)', () => {
  test('dev up on the default ports refuses at once, naming each port and its variable', async () => {
    const state = mkdtempSync(join(tmpdir(), 'nbs-defaults-'))
    states.push(state)
    const started = Date.now()
    const up = await inNetns([process.execPath, 'src/cli/main.ts', 'dev', 'up'], stackEnv({ NBS_STATE_DIR: state }), 30_000)
    expect(Date.now() - started).toBeLessThan(15_000)
    expect(up.code).toBe(1)
    for (const [variable, port] of Object.entries(defaults)) expect(up.stderr).toContain(`127.0.0.1:${port} (${variable}) is taken by pid ${holder?.pid}`)
  }, 40_000)

  test('make demo and test/e2e/pipeline.test.ts pass with every NBS_DEV_*_PORT moved', async () => {
    const state = mkdtempSync(join(tmpdir(), 'nbs-moved-'))
    states.push(state)
    const env = stackEnv({ NBS_STATE_DIR: state, ...moved })
    stackB = devStack(env)

    const demo = await inNetns(['make', 'demo'], env, 150_000)
    expect({ code: demo.code, stderr: demo.stderr.slice(-2000) }).toEqual({ code: 0, stderr: expect.any(String) })
    const end = /job (?<id>\S+): SUCCEEDED\n(?:.*\n)*published (?<ref>\S+)\ndigest (?<digest>sha256:[0-9a-f]{64})\n$/.exec(demo.stdout)?.groups
    expect({ ref: end?.ref, stdout: demo.stdout.slice(-1000) }).toEqual({ ref: `127.0.0.1:${moved.NBS_DEV_REGISTRY_PORT}/examples/hello-world:latest`, stdout: expect.any(String) })
    // The moved registry serves that digest, and the build cloned from the moved Git server through the moved server.
    const check = await inNetns(
      [
        process.execPath,
        '-e',
        `const r = await fetch('http://127.0.0.1:${moved.NBS_DEV_REGISTRY_PORT}/v2/examples/hello-world/manifests/latest', { method: 'HEAD', headers: { Accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' } })
         const s = await (await fetch('http://127.0.0.1:${moved.NBS_DEV_SERVER_PORT}/v1/jobs/${end?.id}')).json()
         console.log(JSON.stringify({ digest: r.headers.get('docker-content-digest'), repo: s.request.repo }))`,
      ],
      env,
      20_000,
    )
    expect(JSON.parse(check.stdout)).toEqual({ digest: end?.digest, repo: `git://127.0.0.1:${moved.NBS_DEV_GIT_PORT}/hello-world` })

    const e2e = await inNetns([process.execPath, 'test', '--timeout', '180000', 'test/e2e/pipeline.test.ts'], env, 240_000)
    expect({ code: e2e.code, failed: e2e.stderr.split('\n').filter((l) => l.startsWith('(fail)')) }).toEqual({ code: 0, failed: [] })
    expect(e2e.stderr).toMatch(/^ *[1-9]\d* pass$/m)
  }, 420_000)
})
