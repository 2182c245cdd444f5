// Builds as MCP Tasks, with the SDK's own client (experimental tasks API) over HTTP, across two
// server replicas: the task is created on one and polled, fetched and cancelled on the other.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { CallToolResultSchema, CreateTaskResultSchema } from '@modelcontextprotocol/sdk/types.js'
import { createApp } from '../../src/http/app'
import { BuildService } from '../../src/service/build-service'
import { config, ensureStack, nomad } from '../support/dev-stack'
import { helloWorld } from '../support/surfaces'

// Two replicas: each its own service and app, sharing nothing but Nomad.
const replicas = [0, 1].map(() => createApp(new BuildService(nomad, config)).listen({ hostname: '127.0.0.1', port: 0 }))
const clients: Client[] = []

async function clientOf(i: number): Promise<Client> {
  const c = new Client({ name: `nbs-tasks-${i}`, version: '0.0.0' }, { capabilities: {} })
  await c.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${replicas[i]?.server?.port}/mcp`)))
  clients.push(c)
  return c
}

const createTask = (c: Client, args: Record<string, unknown>) =>
  c.request({ method: 'tools/call', params: { name: 'submitJob', arguments: args, task: { ttl: 60_000 } } }, CreateTaskResultSchema)

beforeAll(async () => {
  await ensureStack()
}, 120_000)

afterAll(async () => {
  for (const c of clients) await c.close()
  for (const r of replicas) await r.stop(true)
})

describe('builds as MCP Tasks', () => {
  test('the server says which tools run as tasks, and that it lists and cancels them', async () => {
    const c = await clientOf(0)
    expect(c.getServerCapabilities()?.tasks).toMatchObject({ list: {}, cancel: {}, requests: { tools: { call: {} } } })
    const { tools } = await c.listTools()
    expect(tools.filter((t) => t.execution?.taskSupport === 'optional').map((t) => t.name)).toEqual(['submitJob'])
    // A tool that is not a build refuses to run as a task.
    const refused = await c
      .request({ method: 'tools/call', params: { name: 'getServerInfo', arguments: {}, task: {} } }, CreateTaskResultSchema)
      .catch((e: Error) => e)
    expect(String(refused)).toContain('does not run as a task')
  })

  test('created on one replica, polled and fetched on the other: working, then completed with the final status', async () => {
    const one = await clientOf(0)
    const other = await clientOf(1)
    const { task } = await createTask(one, { ...helloWorld('test/mcp-tasks'), tags: ['task'] })
    expect(task.taskId).toMatch(/^\d{8}-\d{6}-[0-9a-f]{6}$/)
    expect(task.status).toBe('working')
    expect(task.statusMessage).toMatch(/^(PENDING|BUILDING|TESTING|PUBLISHING)/)
    let last = task
    for (let i = 0; i < 120 && last.status === 'working'; i++) {
      last = await other.experimental.tasks.getTask(task.taskId)
      if (last.status === 'working') await Bun.sleep(500)
    }
    expect(last.status).toBe('completed')
    expect(last.statusMessage).toStartWith('SUCCEEDED: sha256:')
    const result = await other.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema)
    expect(result.structuredContent).toMatchObject({ id: task.taskId, status: 'SUCCEEDED' })
    expect((result.structuredContent?.result as { digest: string }).digest).toMatch(/^sha256:/)
    // Listed on either replica.
    const { tasks } = await one.experimental.tasks.listTasks()
    expect(tasks.map((t) => t.taskId)).toContain(task.taskId)
  })

  test('a failed build completes with its failure in the result; tasks/cancel kills a running one (cancelled)', async () => {
    const one = await clientOf(0)
    const other = await clientOf(1)
    const failing = await createTask(one, { ...helloWorld('test/mcp-tasks'), test: { commands: ['exit 3'] } })
    const slow = await createTask(one, { ...helloWorld('test/mcp-tasks'), test: { commands: ['sleep 60'] } })
    let t = failing.task
    for (let i = 0; i < 120 && t.status === 'working'; i++) {
      await Bun.sleep(500)
      t = await other.experimental.tasks.getTask(t.taskId)
    }
    expect(t.status).toBe('completed')
    const result = await other.experimental.tasks.getTaskResult(t.taskId, CallToolResultSchema)
    expect(result.structuredContent).toMatchObject({ status: 'FAILED', failure: { reason: 'test_failed' } })
    // Cancel once its test runs (a kill while publishing would be refused).
    let s = slow.task
    for (let i = 0; i < 120 && !s.statusMessage?.startsWith('TESTING'); i++) {
      await Bun.sleep(500)
      s = await other.experimental.tasks.getTask(s.taskId)
    }
    const cancelled = await other.experimental.tasks.cancelTask(s.taskId)
    expect(cancelled.status).toBe('cancelled')
    expect((await one.experimental.tasks.getTask(s.taskId)).status).toBe('cancelled')
    // A task another replica never heard of, and one that does not exist, alike: not found.
    expect(String(await other.experimental.tasks.getTask('20200101-000000-000000').catch((e: Error) => e))).toContain('not found')
  })
})
