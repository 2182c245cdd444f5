// Background processes of the dev stack: started detached, each leading its own process group, and
// recorded by pid and start time. Pids are reused (pid_max is often 32768), so a pid file alone
// proves nothing: the stack signals, and calls ready, only the process it can show it started.
import { spawn } from 'node:child_process'
import { mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'

export interface Daemon {
  name: string
  command: string
  args: string[]
  env?: Record<string, string>
  cwd?: string
}

const pidFile = (state: string, name: string) => join(state, `${name}.pid`)

/** A live process's group and start time (clock ticks after boot); undefined once it has exited. */
function procStat(pid: number): { pgrp: number; start: number } | undefined {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return undefined
  }
  // The command name (field 2) may hold spaces and parentheses: the fields after it follow the last ')'.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ')
  if (f[0] === 'Z') return undefined
  return { pgrp: Number(f[2]), start: Number(f[19]) }
}

// The unit of /proc/<pid>/stat's times: USER_HZ, 100 on every architecture Linux exposes it on.
const USER_HZ = 100
const bootTime = () => Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1])

/** What a pid file names: the process the stack started (`start` set), or a pid that is not, or no longer, its own. */
export interface PidRecord {
  pid: number
  start?: number
}

export function pidRecord(state: string, name: string): PidRecord | undefined {
  const file = pidFile(state, name)
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
  const [pid, recorded] = text.trim().split(/\s+/).map(Number) as [number, number | undefined]
  const st = procStat(pid)
  if (!st) return { pid }
  if (recorded !== undefined) return st.start === recorded ? { pid, start: st.start } : { pid }
  // A pid file from before start times were recorded: its process existed when the file was
  // written. btime has whole seconds, hence the slack.
  const started = bootTime() + st.start / USER_HZ
  return started <= statSync(file).mtimeMs / 1000 + 2 ? { pid, start: st.start } : { pid }
}

/** The stack's own running process for `name`, if it has one. */
export function runningPid(state: string, name: string): number | undefined {
  const r = pidRecord(state, name)
  return r?.start === undefined ? undefined : r.pid
}

export const isAlive = (r: PidRecord) => r.start !== undefined && procStat(r.pid)?.start === r.start

export function startDaemon(state: string, logs: string, d: Daemon): PidRecord {
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
  // -1 when it has exited already: such a record never matches a process.
  const start = procStat(child.pid)?.start ?? -1
  writeFileSync(pidFile(state, d.name), `${child.pid} ${start}\n`)
  return { pid: child.pid, start }
}

/**
 * Stops the stack's own process for `name` (SIGTERM to its group, SIGKILL after `graceMs`) and
 * removes the pid file; true when there was such a process. A pid file whose process is not the
 * stack's is removed, and nothing signalled.
 */
export async function stopDaemon(state: string, name: string, graceMs = 10_000): Promise<boolean> {
  const r = pidRecord(state, name)
  rmSync(pidFile(state, name), { force: true })
  if (r?.start === undefined) return false
  // Its group goes with it (git daemon listens in a child), when it leads one, as startDaemon made it.
  const target = procStat(r.pid)?.pgrp === r.pid ? -r.pid : r.pid
  const signal = (sig: NodeJS.Signals) => {
    try {
      if (isAlive(r)) process.kill(target, sig)
    } catch {}
  }
  signal('SIGTERM')
  const deadline = Date.now() + graceMs
  while (Date.now() < deadline) {
    if (!isAlive(r)) return true
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

/** Listening sockets that hold 127.0.0.1:port: bound to it, or to a wildcard address that takes it too. */
function listeningInodes(port: number): Set<string> {
  const hex = port.toString(16).toUpperCase().padStart(4, '0')
  const addresses = new Set(['0100007F', '00000000', '00000000000000000000000000000000', '0000000000000000FFFF00000100007F'])
  const inodes = new Set<string>()
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = ''
    try {
      text = readFileSync(table, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st … uid timeout inode: the address as hex ADDR:PORT, 0A is LISTEN.
      const f = line.trim().split(/\s+/)
      const [addr, p] = (f[1] ?? '').split(':')
      if (p === hex && f[3] === '0A' && addresses.has(addr ?? '')) inodes.add(f[9] as string)
    }
  }
  return inodes
}

/** Who listens on 127.0.0.1:port: the pids this user may look into, and whether some listener's process stayed unseen. */
export interface Listeners {
  pids: number[]
  unseen: boolean
}

export function listeners(port: number): Listeners {
  const inodes = listeningInodes(port)
  if (inodes.size === 0) return { pids: [], unseen: false }
  const found = new Set<string>()
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let fds: string[]
    try {
      fds = readdirSync(`/proc/${entry}/fd`)
    } catch {
      continue
    }
    for (const fd of fds) {
      let target: string
      try {
        target = readlinkSync(`/proc/${entry}/fd/${fd}`)
      } catch {
        continue
      }
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1]
      if (inode && inodes.has(inode)) {
        found.add(inode)
        if (!pids.includes(Number(entry))) pids.push(Number(entry))
      }
    }
  }
  return { pids, unseen: [...inodes].some((i) => !found.has(i)) }
}

/** Whether `pid` is the stack's process `r` or one of its process group (a daemon's forked listener). */
export const ofDaemon = (r: PidRecord, pid: number) => isAlive(r) && (pid === r.pid || procStat(pid)?.pgrp === r.pid)

/** `pid 123 (python3 -m http.server 5000)`, for messages. */
export function describePid(pid: number): string {
  let cmd = ''
  try {
    cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim()
  } catch {}
  return cmd ? `pid ${pid} (${cmd.length > 100 ? `${cmd.slice(0, 100)}…` : cmd})` : `pid ${pid}`
}

/** Why 127.0.0.1:port cannot be bound now (the test a daemon's own bind would meet), or undefined when it can. */
export function bindable(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message))
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(undefined)))
  })
}

export const httpOk = (url: string) => async () => (await fetch(url, { signal: AbortSignal.timeout(2000) })).ok

export const tcpOpen = (port: number) => async () => {
  const socket = await Bun.connect({ hostname: '127.0.0.1', port, socket: { data() {} } })
  socket.end()
  return true
}
