// `nbs mcp --stdio` answers the SDK's stdio client: in-process, or forwarding to a server given by --server.
import { afterAll, describe, expect, test } from 'bun:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { config } from '../support/dev-stack'
import { ensureStack, listenInProcess, mainTs, serviceEnv } from '../support/surfaces'

const clients: Client[] = []
let server: ReturnType<typeof listenInProcess> | undefined

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()))
  await server?.stop()
})

async function stdioClient(...global: string[]): Promise<Client> {
  const env = Object.fromEntries(Object.entries({ ...process.env, ...serviceEnv }).filter((e): e is [string, string] => e[1] !== undefined))
  const client = new Client({ name: 'nbs-test-stdio', version: '0.0.0' })
  clients.push(client)
  await client.connect(new StdioClientTransport({ command: process.execPath, args: [mainTs, ...global, 'mcp', '--stdio'], env, stderr: 'ignore' }))
  return client
}

type Result = { isError?: boolean; content: { text: string }[] }

describe('nbs mcp --stdio', () => {
  test('in-process: lists the eight tools and answers a call', async () => {
    await ensureStack()
    const client = await stdioClient()
    const { tools } = await client.listTools()
    expect(tools.map((t) => t.name).sort()).toEqual(['cleanup', 'getLogs', 'getServerInfo', 'getStatus', 'killJob', 'listJobs', 'submitJob', 'waitForJob'])
    const r = (await client.callTool({ name: 'getStatus', arguments: { id: '20200101-000000-abcdef' } })) as Result
    expect(r.isError).toBe(true)
    expect(r.content[0]?.text).toContain('no job 20200101-000000-abcdef')
  }, 120_000)

  test('with --server: the tools go to that server, its problems come back as isError', async () => {
    server = listenInProcess()
    const client = await stdioClient('--server', server.url)
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
