// The standalone executable (bun build --compile): `serve` answers /healthz and MCP tools/list, `health` probes it.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { appJs } from '../../src/ui/app-js'
import { config } from '../support/dev-stack'
import { ensureStack, helloWorld, mainTs, mcpClient, projectDir, type ServerProcess, service, spawnServer } from '../support/surfaces'

const binary = join(projectDir, 'dist/nbs')
let server: ServerProcess

/** Missing, or older than a source file: a stale binary would test yesterday's code. */
function stale(): boolean {
  if (!existsSync(binary)) return true
  const built = statSync(binary).mtimeMs
  const sources = readdirSync(join(projectDir, 'src'), { recursive: true, withFileTypes: true })
  return sources.some((d) => d.isFile() && statSync(join(d.parentPath, d.name)).mtimeMs > built)
}

beforeAll(async () => {
  await ensureStack()
  if (stale()) {
    const build = Bun.spawnSync([process.execPath, 'build', '--compile', '--outfile', binary, mainTs], { cwd: projectDir, stderr: 'pipe' })
    if (build.exitCode !== 0) throw new Error(`bun build --compile failed: ${build.stderr.toString()}`)
  }
  server = await spawnServer([binary])
}, 180_000)

afterAll(async () => {
  await server?.stop()
})

describe('compiled nbs', () => {
  test('serve answers /healthz, /readyz and /openapi.json', async () => {
    expect(await (await fetch(`${server.url}/healthz`)).json()).toEqual({ ok: true })
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200)
    const doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as { paths: Record<string, unknown> }
    expect(Object.keys(doc.paths)).toContain('/v1/jobs/{id}/logs')
  })

  test('MCP tools/list through the SDK client', async () => {
    const client = await mcpClient(server.url)
    const { tools } = await client.listTools()
    await client.close()
    expect(tools).toHaveLength(9)
    expect(tools.every((t) => t.outputSchema?.type === 'object')).toBe(true)
  })

  test('a client the project did not write, the MCP Inspector CLI, lists the tools with annotations and calls getStatus and getServerInfo', async () => {
    const inspector = join(projectDir, 'node_modules/.bin/mcp-inspector')
    const run = (...args: string[]) => {
      const r = Bun.spawnSync([inspector, '--cli', `${server.url}/mcp`, '--transport', 'http', ...args], { timeout: 60_000 })
      expect(r.exitCode).toBe(0)
      return JSON.parse(r.stdout.toString())
    }
    const listed = run('--method', 'tools/list') as { tools: { name: string; annotations?: Record<string, boolean> }[] }
    expect(listed.tools.map((t) => t.name).sort()).toEqual(['cleanup', 'getLogs', 'getServerInfo', 'getStatus', 'killJob', 'listJobs', 'runInImage', 'submitJob', 'waitForJob'])
    const hints = Object.fromEntries(listed.tools.map((t) => [t.name, t.annotations]))
    expect(hints.getStatus).toEqual({ readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false })
    expect(hints.cleanup).toMatchObject({ readOnlyHint: false, destructiveHint: true })
    expect(hints.submitJob).toMatchObject({ readOnlyHint: false, openWorldHint: true })
    const info = run('--method', 'tools/call', '--tool-name', 'getServerInfo') as {
      isError?: boolean
      structuredContent: { profile: string; registries: { insecure: string[] }; repo: { forms: string[] } }
    }
    expect(info.isError).toBeFalsy()
    expect(info.structuredContent.profile).toBe(config.profile)
    expect(info.structuredContent.registries.insecure).toEqual(config.insecureRegistries)
    expect(info.structuredContent.repo.forms).toContain('git://host/path')
    const { id } = await service.submitJob(helloWorld('test/inspector'))
    const called = run('--method', 'tools/call', '--tool-name', 'getStatus', '--tool-arg', `id=${id}`) as {
      isError?: boolean
      structuredContent: { id: string; status: string }
    }
    expect(called.isError).toBeFalsy()
    expect(called.structuredContent.id).toBe(id)
    expect(['PENDING', 'BUILDING', 'TESTING', 'PUBLISHING', 'SUCCEEDED']).toContain(called.structuredContent.status)
  }, 120_000)

  test('the dashboard: / leads to /ui, whose page, script and stylesheet are compiled in', async () => {
    const root = await fetch(`${server.url}/`, { redirect: 'manual' })
    expect(root.headers.get('location')).toBe('/ui')
    expect(await (await fetch(`${server.url}/ui/jobs/20261205-000000-abcdef`)).text()).toContain('src="/ui/app.js"')
    // The bundle the executable carries (made by the macro at compile time) is the one the sources make now.
    expect(await (await fetch(`${server.url}/ui/app.js`)).text()).toBe(appJs)
    expect((await fetch(`${server.url}/ui/style.css`)).headers.get('content-type')).toStartWith('text/css')
  })

  test('health exits 0 against it and 1 against nothing', () => {
    expect(Bun.spawnSync([binary, '--server', server.url, 'health']).exitCode).toBe(0)
    expect(Bun.spawnSync([binary, '--server', 'http://127.0.0.1:9', 'health']).exitCode).toBe(1)
  })

  test('SIGTERM: graceful exit 0', async () => {
    expect(await server.stop('SIGTERM')).toBe(0)
  })
})
