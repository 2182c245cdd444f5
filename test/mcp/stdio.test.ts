// `nbs mcp --stdio` answers the SDK's stdio client: the tools a local client (Claude Code, Cursor) sees.
import { afterAll, describe, expect, test } from 'bun:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { ensureStack, mainTs, serviceEnv } from '../support/surfaces'

const client = new Client({ name: 'nbs-test-stdio', version: '0.0.0' })

afterAll(async () => {
  await client.close()
})

describe('nbs mcp --stdio', () => {
  test('lists the seven tools and answers a call in-process', async () => {
    await ensureStack()
    const env = Object.fromEntries(Object.entries({ ...process.env, ...serviceEnv }).filter((e): e is [string, string] => e[1] !== undefined))
    await client.connect(new StdioClientTransport({ command: process.execPath, args: [mainTs, 'mcp', '--stdio'], env, stderr: 'ignore' }))
    const { tools } = await client.listTools()
    expect(tools.map((t) => t.name).sort()).toEqual(['cleanup', 'getLogs', 'getStatus', 'killJob', 'listJobs', 'submitJob', 'waitForJob'])
    const r = (await client.callTool({ name: 'getStatus', arguments: { id: '20200101-000000-abcdef' } })) as { isError?: boolean; content: { text: string }[] }
    expect(r.isError).toBe(true)
    expect(r.content[0]?.text).toContain('no job 20200101-000000-abcdef')
  }, 120_000)
})
