// submitJob with sourcePath over `nbs mcp --stdio`: the agent's own directory, packed and uploaded by the
// process that runs beside it, built through the dev stack's server; refused without a server.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { ensureStack, registryDigest, serviceEnv, urls } from '../support/dev-stack'
import { sourceChecks, sourceTree } from '../support/source-tree'
import { mainTs } from '../support/surfaces'

const clients: Client[] = []
beforeAll(ensureStack, 180_000)
afterAll(() => Promise.all(clients.map((c) => c.close())))

// The dev server's environment, without a caller name or clients file of this shell's.
const env = Object.fromEntries(
  Object.entries({ ...process.env, ...serviceEnv, NBS_MCP_AS: undefined, NBS_CLIENTS_FILE: undefined }).filter((e): e is [string, string] => e[1] !== undefined),
)

/** `nbs … mcp --stdio` started in `cwd`, as an MCP client starts it in the agent's project. */
async function stdioClient(args: string[], cwd: string): Promise<Client> {
  const client = new Client({ name: 'nbs-test-source-stdio', version: '0.0.0' })
  clients.push(client)
  await client.connect(new StdioClientTransport({ command: process.execPath, args: [mainTs, ...args], env, cwd, stderr: 'ignore' }))
  return client
}

type Result = { isError?: boolean; content: { text: string }[]; structuredContent?: Record<string, any> }

const image = `${urls.registry}/test/source-stdio`

describe('submitJob sourcePath on stdio', () => {
  test('with --server: "." is the directory the client started it in; the build SUCCEEDS with the symlink kept and the ignored file absent', async () => {
    const client = await stdioClient(['--server', urls.server, 'mcp', '--stdio'], sourceTree())
    const tag = `stdio-${Date.now()}`
    const submitted = (await client.callTool({ name: 'submitJob', arguments: { sourcePath: '.', image, tags: [tag], test: { commands: sourceChecks } } })) as Result
    expect(submitted.isError).toBeFalsy()
    const id = submitted.structuredContent?.id as string
    let status: Result
    do status = (await client.callTool({ name: 'waitForJob', arguments: { id, until: 'final', timeoutSeconds: 50 } })) as Result
    while (!['SUCCEEDED', 'FAILED'].includes(status.structuredContent?.status))
    expect({ status: status.structuredContent?.status, failure: status.structuredContent?.failure }).toEqual({ status: 'SUCCEEDED', failure: undefined })
    expect(status.structuredContent?.request.source).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(await registryDigest(image, tag)).toBe(status.structuredContent?.result.digest)
  }, 240_000)

  test('without --server: refused, saying to run it through a server', async () => {
    const client = await stdioClient(['mcp', '--stdio', '--as', 'source-me'], sourceTree())
    const r = (await client.callTool({ name: 'submitJob', arguments: { sourcePath: '.', image } })) as Result
    expect(r.isError).toBe(true)
    expect(r.content[0]?.text).toContain('sourcePath: this `nbs mcp --stdio` runs the service itself')
    expect(r.content[0]?.text).toContain('nbs --server URL mcp --stdio')
  }, 60_000)
})
