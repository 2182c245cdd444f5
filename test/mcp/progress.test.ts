// waitForJob's progress over Streamable HTTP, with a service that plays a build: the notifications reach the
// SDK client before the result (SSE), plain calls stay JSON, and a client that hangs up ends the wait.
import { afterAll, describe, expect, test } from 'bun:test'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { CallToolResultSchema, type Progress } from '@modelcontextprotocol/sdk/types.js'
import { createApp, type ServerApi } from '../../src/http/app'
import type { JobStatus } from '../../src/jobs/status-schema'
import { loadConfig } from '../../src/config'
import { serverInfo } from '../../src/service/server-info'

const id = '20261201-120000-abcdef'
const status = (s: JobStatus['status'], running: string[] = []): JobStatus => ({
  id,
  status: s,
  createdAt: '2026-12-01T12:00:00Z',
  tasks: ['build', 'test-0', 'publish'].map((task) => ({
    task,
    phase: task === 'build' ? 'build' : task === 'publish' ? 'publish' : 'test',
    state: running.includes(task) ? 'running' : 'pending',
  })),
  request: { repo: 'git://127.0.0.1/x', image: '127.0.0.1:5000/x' },
})

// Settles when the hang-up case's wait ends: true if the call was abandoned, false if it waited 10 s.
const hungUp = Promise.withResolvers<boolean>()

// The service as waitForJob sees it: three states, a step in the build log, and a wait the client may end.
const api = {
  ready: async () => ({ ok: true }),
  serverInfo: async () => serverInfo(loadConfig({}), {}),
  getLogs: async () => ({ id, status: 'BUILDING', logs: [{ task: 'build', phase: 'build', state: 'running', text: 'STEP 2/3: COPY app /app\n', truncated: false }] }),
  waitForJob: async (q: { timeoutSeconds?: number }, _caller: unknown, signal?: AbortSignal, onProgress?: (s: JobStatus) => Promise<void>) => {
    await onProgress?.(status('PENDING'))
    await Bun.sleep(100)
    await onProgress?.(status('BUILDING', ['build']))
    await Bun.sleep(100)
    await onProgress?.(status('TESTING', ['test-0']))
    if (q.timeoutSeconds === 30) {
      signal?.addEventListener('abort', () => hungUp.resolve(true))
      setTimeout(() => hungUp.resolve(false), 10_000)
      await hungUp.promise
    }
    return status('TESTING', ['test-0'])
  },
} as unknown as ServerApi

const app = createApp(api).listen({ hostname: '127.0.0.1', port: 0 })
const url = `http://127.0.0.1:${app.server?.port}/mcp`
afterAll(() => app.stop(true))

const rpc = (body: unknown, signal?: AbortSignal) =>
  fetch(url, {
    method: 'POST',
    signal,
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify(body),
  })

describe('waitForJob progress', () => {
  test('the SDK client receives notifications/progress (phase, step, seconds waited) before the result', async () => {
    const client = new Client({ name: 'progress-test', version: '0' })
    await client.connect(new StreamableHTTPClientTransport(new URL(url)))
    const seen: Progress[] = []
    const result = await client.callTool({ name: 'waitForJob', arguments: { id } }, CallToolResultSchema, {
      onprogress: (p) => seen.push(p),
      resetTimeoutOnProgress: true,
    })
    await client.close()
    expect(result.isError).toBeFalsy()
    expect(seen.map((p) => p.message?.replace(/; [\d.]+ s waited$/, ''))).toEqual([
      'PENDING: waiting for Nomad to start it',
      'BUILDING: build: STEP 2/3: COPY app /app',
      'TESTING: test-0 running',
    ])
    expect(seen.every((p) => /; [\d.]+ s waited$/.test(p.message ?? ''))).toBe(true)
    expect(seen.every((p) => p.total === 50)).toBe(true)
    const progress = seen.map((p) => p.progress)
    expect(progress).toEqual([...progress].sort((a, b) => a - b))
    expect(new Set(progress).size).toBe(progress.length)
  })

  test('with a progressToken the answer is an SSE stream, progress first; without one it stays JSON', async () => {
    const call = (meta: object) => ({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'waitForJob', arguments: { id }, _meta: meta } })
    const streamed = await rpc(call({ progressToken: 'p1' }))
    expect(streamed.headers.get('content-type')).toStartWith('text/event-stream')
    const events = (await streamed.text())
      .split('\n')
      .filter((l) => l.startsWith('data: '))
      .map((l) => JSON.parse(l.slice(6)) as { method?: string; params?: { progressToken?: string }; result?: unknown })
    expect(events.map((e) => e.method ?? 'result')).toEqual(['notifications/progress', 'notifications/progress', 'notifications/progress', 'result'])
    expect(events[0]?.params?.progressToken).toBe('p1')
    const plain = await rpc(call({}))
    expect(plain.headers.get('content-type')).toStartWith('application/json')
    expect(((await plain.json()) as { result: { structuredContent: { status: string } } }).result.structuredContent.status).toBe('TESTING')
  })

  test('a client that hangs up ends the wait', async () => {
    const hangUp = new AbortController()
    const res = await rpc({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'waitForJob', arguments: { id, timeoutSeconds: 30 }, _meta: { progressToken: 2 } } }, hangUp.signal)
    const reader = res.body!.getReader()
    await reader.read()
    await Bun.sleep(300)
    hangUp.abort()
    const started = Date.now()
    expect(await hungUp.promise).toBe(true)
    expect(Date.now() - started).toBeLessThan(5000)
  })
})
