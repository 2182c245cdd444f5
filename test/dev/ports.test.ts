// The dev stack owns its ports: it refuses ports other processes hold, is ready only when its own
// process listens, and stops only processes it can show it started. Nothing here starts a stack:
// each case runs on ports the test holds and a state dir of its own.
import { afterAll, describe, expect, test } from 'bun:test'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { startDaemon, stopDaemon } from '../../src/dev/process'
import { type Component, devStack, devStatus, startComponent } from '../../src/dev/stack'

const mainTs = resolve(import.meta.dir, '../../src/cli/main.ts')
const states: string[] = []
const newState = () => {
  const dir = mkdtempSync(join(tmpdir(), 'nbs-dev-ports-'))
  states.push(dir)
  return dir
}
const stoppers: (() => unknown)[] = []
afterAll(async () => {
  for (const stop of stoppers) await stop()
  for (const dir of states) rmSync(dir, { recursive: true, force: true })
})

/** An HTTP server that answers 200 to everything, as a ready registry, Nomad or nbs server would. */
function answeringListener(): number {
  const server = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => Response.json([{ Status: 'ready' }]) })
  stoppers.push(() => server.stop(true))
  return server.port as number
}

/** A listener that takes connections and never says a word. */
function silentListener(): number {
  const listener = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  stoppers.push(() => listener.stop(true))
  return listener.port
}

async function freePort(): Promise<number> {
  const s = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response() })
  const port = s.port as number
  await s.stop(true)
  return port
}

/** Alive and not a zombie: a signalled child of this process stays in /proc until it is reaped. */
function alive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z'
  } catch {
    return false
  }
}

async function nbs(env: Record<string, string>, ...args: string[]) {
  const p = Bun.spawn([process.execPath, mainTs, ...args], { env: { ...process.env, ...env }, stdout: 'pipe', stderr: 'pipe', timeout: 60_000 })
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited])
  return { stdout, stderr, code }
}

describe('nbs dev up on ports other processes hold', () => {
  test('refuses at once, naming each taken port and its variable, and starts nothing', async () => {
    const state = newState()
    const env = {
      NBS_STATE_DIR: state,
      NBS_DEV_NOMAD_PORT: String(silentListener()),
      NBS_DEV_REGISTRY_PORT: String(answeringListener()),
      NBS_DEV_GIT_PORT: String(await freePort()),
      NBS_DEV_SERVER_PORT: String(answeringListener()),
    }
    const started = Date.now()
    const up = await nbs(env, 'dev', 'up')
    expect(Date.now() - started).toBeLessThan(15_000)
    expect(up.code).toBe(1)
    expect(up.stderr).toContain(`127.0.0.1:${env.NBS_DEV_NOMAD_PORT} (NBS_DEV_NOMAD_PORT) is taken by pid ${process.pid}`)
    expect(up.stderr).toContain(`127.0.0.1:${env.NBS_DEV_REGISTRY_PORT} (NBS_DEV_REGISTRY_PORT) is taken by pid ${process.pid}`)
    expect(up.stderr).toContain(`127.0.0.1:${env.NBS_DEV_SERVER_PORT} (NBS_DEV_SERVER_PORT) is taken by pid ${process.pid}`)
    expect(up.stderr).not.toContain('NBS_DEV_GIT_PORT')
    expect(up.stderr).toContain('set each variable named above to a free port')
    expect(readdirSync(state).filter((f) => f.endsWith('.pid'))).toEqual([])
    const status = await nbs(env, 'dev', 'status')
    expect(status.code).toBe(1)
    expect(status.stdout).toMatch(new RegExp(`^registry +stopped: 127\\.0\\.0\\.1:${env.NBS_DEV_REGISTRY_PORT} \\(NBS_DEV_REGISTRY_PORT\\) is taken by pid ${process.pid}`, 'm'))
  }, 60_000)
})

describe('readiness asks who listens, not only whether the port answers', () => {
  test("the stack's registry process is running but a foreign server answers on its port: not ready, and status names the holder", async () => {
    const state = newState()
    const port = answeringListener()
    const s = devStack({ NBS_STATE_DIR: state, NBS_DEV_REGISTRY_PORT: String(port), NBS_DEV_NOMAD_PORT: String(await freePort()) })
    const own = startDaemon(state, join(state, 'logs'), { name: 'registry', command: 'sleep', args: ['60'] })
    stoppers.push(() => stopDaemon(state, 'registry', 1000))
    expect((await fetch(`http://127.0.0.1:${port}/v2/`)).ok).toBe(true)
    const registry = (await devStatus(s)).find((r) => r.name === 'registry')
    expect(registry).toMatchObject({ pid: own.pid, ready: false })
    expect(registry?.problem).toStartWith(`127.0.0.1:${port} (NBS_DEV_REGISTRY_PORT) is taken by pid ${process.pid} (`)
  })

  // What happened with port 5000 held by another HTTP server: the stack's registry died on its
  // bind, the other server answered, and dev up said "started".
  const component = (port: number, daemon: Component['daemon']): Component => ({
    name: 'fake',
    ports: () => [{ port, setting: 'NBS_TEST_PORT' }],
    daemon,
    answers: () => async () => (await fetch(`http://127.0.0.1:${port}/`)).ok,
  })

  test('a port taken after the check, while its daemon starts: dev up fails at once naming it, and stops the daemon', async () => {
    const state = newState()
    const port = await freePort()
    let foreign: ReturnType<typeof Bun.serve> | undefined
    const c = component(port, async () => {
      foreign = Bun.serve({ hostname: '127.0.0.1', port, fetch: () => new Response('not the stack') })
      return { name: 'fake', command: 'sleep', args: ['60'] }
    })
    stoppers.push(() => foreign?.stop(true))
    const started = Date.now()
    const err = (await startComponent(devStack({ NBS_STATE_DIR: state }), c, () => {}).catch((e: Error) => e)) as Error
    expect(Date.now() - started).toBeLessThan(5_000)
    expect(err.message).toStartWith(`fake cannot listen: 127.0.0.1:${port} (NBS_TEST_PORT) is taken by pid ${process.pid} (`)
    expect(err.message).toEndWith('; stop it, or set NBS_TEST_PORT to a free port')
    expect(existsSync(join(state, 'fake.pid'))).toBe(false)
  })

  test('a daemon that exits before it listens: dev up fails at once with the end of its log', async () => {
    const state = newState()
    const port = await freePort()
    const c = component(port, async () => ({ name: 'fake', command: 'sh', args: ['-c', `echo "listen tcp 127.0.0.1:${port}: bind: address already in use" >&2; exit 1`] }))
    const started = Date.now()
    const err = (await startComponent(devStack({ NBS_STATE_DIR: state }), c, () => {}).catch((e: Error) => e)) as Error
    expect(Date.now() - started).toBeLessThan(5_000)
    expect(err.message).toContain(`exited before it was ready on 127.0.0.1:${port} (NBS_TEST_PORT)`)
    expect(err.message).toContain(`listen tcp 127.0.0.1:${port}: bind: address already in use`)
  })
})

describe('nbs dev down signals only what the stack started', () => {
  test("a stale pid file naming another process leaves it alone; the stack's own processes stop, old-style pid files included", async () => {
    const state = newState()
    const logs = join(state, 'logs')
    // Another process, leading its own group as the stack's daemons do: the group is what dev down used to signal.
    const foreign = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' })
    foreign.unref()
    const pid = foreign.pid as number
    stoppers.push(() => alive(pid) && process.kill(pid, 'SIGKILL'))
    // Its pid with another start time: the pid of a daemon that has exited, now reused.
    writeFileSync(join(state, 'registry.pid'), `${pid} 1\n`)
    // Its pid in the old form (no start time), written before it started.
    writeFileSync(join(state, 'git.pid'), `${pid}\n`)
    const anHourAgo = new Date(Date.now() - 3_600_000)
    utimesSync(join(state, 'git.pid'), anHourAgo, anHourAgo)
    const own = startDaemon(state, logs, { name: 'nomad', command: 'sleep', args: ['60'] })
    // A daemon of a stack started before pid files held start times: its file written after it started.
    const older = startDaemon(state, logs, { name: 'server', command: 'sleep', args: ['60'] })
    writeFileSync(join(state, 'server.pid'), `${older.pid}\n`)
    stoppers.push(() => [own.pid, older.pid].forEach((p) => alive(p) && process.kill(p, 'SIGKILL')))

    const down = await nbs({ NBS_STATE_DIR: state }, 'dev', 'down')
    expect(down.code).toBe(0)
    expect(down.stdout).toContain(`dev: registry: not running; left pid ${pid} alone`)
    expect(down.stdout).toContain(`dev: git: not running; left pid ${pid} alone`)
    expect(down.stdout).toContain('dev: nomad: stopped')
    expect(down.stdout).toContain('dev: server: stopped')
    expect(alive(pid)).toBe(true)
    expect(alive(own.pid)).toBe(false)
    expect(alive(older.pid)).toBe(false)
    expect(readdirSync(state).filter((f) => f.endsWith('.pid'))).toEqual([])
  }, 60_000)
})
