// `nbs mcp --stdio` answers the SDK's stdio client: in-process for one named client, or forwarding to a server given by --server.
import { afterAll, describe, expect, test } from 'bun:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { CallToolResultSchema, type Progress } from '@modelcontextprotocol/sdk/types.js'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { META, nomadJobId } from '../../src/jobs/ids'
import { newClient } from '../../src/service/clients'
import { config } from '../support/dev-stack'
import { ensureStack, helloWorld, listenInProcess, mainTs, nomad, service, serviceEnv } from '../support/surfaces'

const clients: Client[] = []
let server: ReturnType<typeof listenInProcess> | undefined

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()))
  await server?.stop()
})

// The environment of the dev server, without a caller name or clients file of this shell's.
const env = Object.fromEntries(
  Object.entries({ ...process.env, ...serviceEnv, NBS_MCP_AS: undefined, NBS_CLIENTS_FILE: undefined }).filter((e): e is [string, string] => e[1] !== undefined),
)

async function stdioClient(args: string[]): Promise<Client> {
  const client = new Client({ name: 'nbs-test-stdio', version: '0.0.0' })
  clients.push(client)
  await client.connect(new StdioClientTransport({ command: process.execPath, args: [mainTs, ...args], env, stderr: 'ignore' }))
  return client
}

/** `nbs …` run to its end with stdin closed: for the refusals that come before any MCP. */
const refused = (args: string[]) => {
  const r = Bun.spawnSync([process.execPath, mainTs, ...args], { env, stdin: 'ignore', timeout: 30_000 })
  return { code: r.exitCode, stderr: r.stderr.toString() }
}

type Result = { isError?: boolean; content: { text: string }[]; structuredContent?: Record<string, unknown> }

// A build that fails at placement (more memory than any node has): a job of its owner that builds nothing.
const unplaceable = { ...helloWorld('test/stdio'), resources: { memory: 10_000_000 } }

describe('nbs mcp --stdio', () => {
  test('in-process without a caller name: refused, saying how to name one', () => {
    const r = refused(['mcp', '--stdio'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('--as NAME (env NBS_MCP_AS)')
    expect(r.stderr).toContain('nbs --server URL mcp --stdio')
  })

  test.each([
    [['mcp', '--stdio', '--as', 'Not A Name'], 'a client name is 1 to 63 lowercase letters'],
    [['--server', 'http://127.0.0.1:1', 'mcp', '--stdio', '--as', 'alice'], 'a server knows you by your token (NBS_TOKEN)'],
  ])('%j: refused', (args, words) => {
    const r = refused(args)
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(words)
  })

  test("in-process as a client: the nine tools; another client's job does not exist for it, its own jobs carry its name", async () => {
    await ensureStack()
    const theirs = await service.submitJob(unplaceable, { owner: 'stdio-other' })
    const client = await stdioClient(['mcp', '--stdio', '--as', 'stdio-me'])
    const { tools } = await client.listTools()
    expect(tools.map((t) => t.name).sort()).toEqual(['cleanup', 'getLogs', 'getServerInfo', 'getStatus', 'killJob', 'listJobs', 'runInImage', 'submitJob', 'waitForJob'])
    const r = (await client.callTool({ name: 'getStatus', arguments: { id: theirs.id } })) as Result
    expect(r.isError).toBe(true)
    expect(r.content[0]?.text).toContain(`no job ${theirs.id}`)
    const mine = (await client.callTool({ name: 'submitJob', arguments: unplaceable })) as Result
    const id = mine.structuredContent?.id as string
    expect((await nomad.jobs.info(nomadJobId(id))).data.Meta?.[META.owner]).toBe('stdio-me')
    const listed = (await client.callTool({ name: 'listJobs', arguments: { limit: 100 } })) as Result
    const ids = (listed.structuredContent?.jobs as { id: string }[]).map((j) => j.id)
    expect(ids).toContain(id)
    expect(ids).not.toContain(theirs.id)
  }, 120_000)

  test("with --clients: the caller is that file's client, with its secret prefixes; a name it lacks is refused", async () => {
    const team = newClient('stdio-team', ['nomad:nbs/stdio-team/'])
    const file = join(mkdtempSync(join(tmpdir(), 'nbs-stdio-')), 'clients.json')
    writeFileSync(file, JSON.stringify({ clients: [team.entry] }))
    const lacking = refused(['mcp', '--stdio', '--as', 'stdio-nobody', '--clients', file])
    expect(lacking.code).toBe(2)
    expect(lacking.stderr).toContain(`--as stdio-nobody: ${file} has no client of that name (it has: stdio-team)`)
    const client = await stdioClient(['mcp', '--stdio', '--as', 'stdio-team', '--clients', file])
    const info = (await client.callTool({ name: 'getServerInfo', arguments: {} })) as Result
    expect((info.structuredContent?.secrets as { prefixes: string[] }).prefixes).toEqual(['nomad:nbs/stdio-team/'])
    const outside = (await client.callTool({ name: 'submitJob', arguments: { ...unplaceable, secrets: { registry: 'nomad:nbs/other/registry' } } })) as Result
    expect(outside.isError).toBe(true)
    expect(outside.content[0]?.text).toContain('secrets.registry: reference nomad:nbs/other/registry is outside the prefixes this client may use: nomad:nbs/stdio-team/')
  }, 120_000)

  test('with --server: waitForJob with a progressToken sends progress while the build runs, then its final status', async () => {
    await ensureStack()
    const remote = listenInProcess()
    try {
      const client = await stdioClient(['--server', remote.url, 'mcp', '--stdio'])
      const submitted = (await client.callTool({ name: 'submitJob', arguments: helloWorld('test/stdio-progress') })) as Result
      const seen: Progress[] = []
      const r = (await client.callTool({ name: 'waitForJob', arguments: { id: submitted.structuredContent?.id, until: 'final', timeoutSeconds: 55 } }, CallToolResultSchema, {
        onprogress: (p) => seen.push(p),
        resetTimeoutOnProgress: true,
      })) as Result
      expect(r.structuredContent?.status).toBe('SUCCEEDED')
      expect(seen.length).toBeGreaterThan(0)
      expect(seen[0]?.message).toMatch(/^(PENDING|BUILDING|TESTING|PUBLISHING): .*; [\d.]+ s waited$/)
      expect(seen.every((p) => p.total === 55)).toBe(true)
    } finally {
      remote.stop()
    }
  }, 120_000)

  test('with --server: the tools go to that server, its problems come back as isError', async () => {
    server = listenInProcess()
    const client = await stdioClient(['--server', server.url, 'mcp', '--stdio'])
    const listed = (await client.callTool({ name: 'listJobs', arguments: { limit: 1 } })) as Result & { structuredContent?: { jobs: unknown[] } }
    expect(listed.isError).toBeFalsy()
    expect(Array.isArray(listed.structuredContent?.jobs)).toBe(true)
    // getServerInfo too: the remote server's configuration, not this process's.
    const info = (await client.callTool({ name: 'getServerInfo', arguments: {} })) as Result & { structuredContent?: { registries: { insecure: string[] } } }
    expect(info.structuredContent?.registries.insecure).toEqual(config.insecureRegistries)
    const r = (await client.callTool({ name: 'killJob', arguments: { id: '20200101-000000-abcdef' } })) as Result
    expect(r.isError).toBe(true)
    expect(r.content[0]?.text).toContain('not_found')
    // Proof it went through HTTP: with the server gone the same call says the server cannot be reached.
    await server.stop()
    server = undefined
    const down = (await client.callTool({ name: 'getStatus', arguments: { id: '20200101-000000-abcdef' } })) as Result
    expect(down.isError).toBe(true)
    expect(down.content[0]?.text).toContain('cannot reach the server')
  }, 120_000)
})
