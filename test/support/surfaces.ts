// What the surface tests share: the dev stack, an nbs server on a free 127.0.0.1 port, Nomad's job ids, an MCP client.
import { afterAll, beforeAll } from 'bun:test'
import { spawn, type ChildProcess } from 'node:child_process'
import { resolve } from 'node:path'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { createApp } from '../../src/http/app'
import { JOB_PREFIX } from '../../src/jobs/ids'
import { ensureStack, nomad, service, serviceEnv, urls } from './dev-stack'

export { ensureStack, nomad, service, serviceEnv }

export const projectDir = resolve(import.meta.dir, '../..')
export const mainTs = resolve(projectDir, 'src/cli/main.ts')

export const helloWorld = (image: string) => ({
  repo: `${urls.git}/hello-world`,
  image: `${urls.registry}/${image}`,
  test: { commands: ['test "$(cat /hello)" = hello-from-build'] },
})

/** Every Nomad job id the service could have made: to prove a refused request created none. */
export async function nomadJobIds(): Promise<string[]> {
  const { data } = await nomad.jobs.list(JOB_PREFIX)
  return data.map((j) => j.ID).sort()
}

/** Jobs created since `before` that publish to `image`: other suites may submit to the shared agent meanwhile. */
export async function newJobsFor(before: string[], image: string): Promise<string[]> {
  const added = (await nomadJobIds()).filter((id) => !before.includes(id))
  const images = await Promise.all(
    added.map(async (id) => (await service.getStatus(id.replace(/^nbs-/, '')).catch(() => undefined))?.request.image),
  )
  return added.filter((_, i) => images[i] === image)
}

/** The app, in this process, listening on a free port of 127.0.0.1. */
export function listenInProcess() {
  const app = createApp(service).listen({ hostname: '127.0.0.1', port: 0 })
  const url = `http://127.0.0.1:${app.server?.port}`
  return { app, url, stop: () => app.stop(true) }
}

export async function freePort(): Promise<number> {
  const s = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response() })
  const port = s.port as number
  await s.stop(true)
  return port
}

export interface ServerProcess {
  url: string
  child: ChildProcess
  output: () => string
  stop: (signal?: NodeJS.Signals) => Promise<number | null>
}

/** `nbs serve` as a child process (bun + sources, or a compiled binary), ready when /readyz answers 200. */
export async function spawnServer(command: string[] = [process.execPath, mainTs], port?: number): Promise<ServerProcess> {
  const p = port ?? (await freePort())
  const [cmd, ...args] = command
  const child = spawn(cmd as string, [...args, 'serve', '--listen', `127.0.0.1:${p}`], {
    env: { ...process.env, ...serviceEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout?.on('data', (b) => (out += b))
  child.stderr?.on('data', (b) => (out += b))
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
  const url = `http://127.0.0.1:${p}`
  const deadline = Date.now() + 20_000
  for (;;) {
    const ok = await fetch(`${url}/readyz`).then((r) => r.ok, () => false)
    if (ok) break
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`nbs serve did not become ready on ${url}:\n${out}`)
    }
    await Bun.sleep(100)
  }
  return {
    url,
    child,
    output: () => out,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal)
      return exited
    },
  }
}

export async function mcpClient(url: string): Promise<Client> {
  const client = new Client({ name: 'nbs-test', version: '0.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`)))
  return client
}

export type ToolResult = { isError?: boolean; content: { type: string; text?: string }[]; structuredContent?: Record<string, any> }

/**
 * An MCP session for a test file: the dev stack, the app on a free port and an SDK client,
 * opened in beforeAll and closed in afterAll. `call` is usable inside the tests.
 */
export function mcpSession() {
  let server: ReturnType<typeof listenInProcess> | undefined
  let client: Client | undefined
  beforeAll(async () => {
    await ensureStack()
    server = listenInProcess()
    client = await mcpClient(server.url)
  }, 120_000)
  afterAll(async () => {
    await client?.close()
    await server?.stop()
  })
  return {
    client: () => client as Client,
    call: async (name: string, args: Record<string, unknown>) => (await client!.callTool({ name, arguments: args })) as ToolResult,
  }
}
