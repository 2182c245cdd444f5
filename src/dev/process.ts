// Background processes of the dev stack: started detached, tracked by pid files, stopped by process group.
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export interface Daemon {
  name: string
  command: string
  args: string[]
  env?: Record<string, string>
  cwd?: string
}

const pidFile = (state: string, name: string) => join(state, `${name}.pid`)

export function runningPid(state: string, name: string): number | undefined {
  const file = pidFile(state, name)
  if (!existsSync(file)) return undefined
  const pid = Number(readFileSync(file, 'utf8'))
  try {
    process.kill(pid, 0)
    return pid
  } catch {
    return undefined
  }
}

export function startDaemon(state: string, logs: string, d: Daemon): number {
  mkdirSync(logs, { recursive: true })
  const log = openSync(join(logs, `${d.name}.log`), 'a')
  const child = spawn(d.command, d.args, {
    cwd: d.cwd,
    env: { ...process.env, ...d.env },
    detached: true,
    stdio: ['ignore', log, log],
  })
  if (!child.pid) throw new Error(`could not start ${d.name} (${d.command})`)
  child.unref()
  writeFileSync(pidFile(state, d.name), String(child.pid))
  return child.pid
}

/** SIGTERM to the daemon's process group, SIGKILL after `graceMs`. */
export async function stopDaemon(state: string, name: string, graceMs = 10_000): Promise<boolean> {
  const pid = runningPid(state, name)
  rmSync(pidFile(state, name), { force: true })
  if (!pid) return false
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig)
    } catch {
      try {
        process.kill(pid, sig)
      } catch {}
    }
  }
  signal('SIGTERM')
  const deadline = Date.now() + graceMs
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0)
    } catch {
      return true
    }
    await Bun.sleep(100)
  }
  signal('SIGKILL')
  return true
}

export async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000, logHint = ''): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return
    await Bun.sleep(200)
  }
  throw new Error(`${what} did not become ready within ${timeoutMs / 1000} s${logHint ? `; see ${logHint}` : ''}`)
}

export const httpOk = (url: string) => async () => (await fetch(url, { signal: AbortSignal.timeout(2000) })).ok

export const tcpOpen = (port: number) => async () => {
  const socket = await Bun.connect({ hostname: '127.0.0.1', port, socket: { data() {} } })
  socket.end()
  return true
}
