// MCP over Streamable HTTP with the SDK's own client: tool schemas, a real hello-world build, refusals as isError.
import { describe, expect, test } from 'bun:test'
import { urls } from '../support/dev-stack'
import { helloWorld, mcpSession, newJobsFor, nomadJobIds, type ToolResult } from '../support/surfaces'

type Structured = Record<string, unknown>

const { call, client } = mcpSession()
const text = (r: ToolResult) => r.content.map((c) => c.text ?? '').join('\n')

describe('MCP over HTTP', () => {
  test('tools/list: nine tools, each with object input and output schemas, a description and annotations', async () => {
    const { tools } = await client().listTools()
    expect(tools.map((t) => t.name).sort()).toEqual(['cleanup', 'getLogs', 'getServerInfo', 'getStatus', 'killJob', 'listJobs', 'runInImage', 'submitJob', 'waitForJob'])
    for (const t of tools) {
      expect(t.inputSchema.type).toBe('object')
      expect(t.outputSchema?.type).toBe('object')
      expect(t.description?.length ?? 0).toBeGreaterThan(80)
      expect(t.description).toContain('Example')
      for (const hint of ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint'] as const)
        expect({ tool: t.name, hint, type: typeof t.annotations?.[hint] }).toEqual({ tool: t.name, hint, type: 'boolean' })
    }
    const hints = Object.fromEntries(tools.map((t) => [t.name, t.annotations]))
    for (const name of ['getStatus', 'getLogs', 'listJobs', 'waitForJob', 'getServerInfo']) expect(hints[name]?.readOnlyHint).toBe(true)
    for (const name of ['killJob', 'cleanup']) expect(hints[name]?.destructiveHint).toBe(true)
    expect(hints.submitJob).toMatchObject({ readOnlyHint: false, destructiveHint: false, openWorldHint: true })
    const submit = tools.find((t) => t.name === 'submitJob')
    expect(submit?.inputSchema.required).toEqual(['image'])
    // repo or source: one of the two, said in the description and checked at submit.
    expect(Object.keys((submit?.inputSchema as { properties: object }).properties)).toEqual(expect.arrayContaining(['repo', 'source']))
    expect((submit?.inputSchema as { additionalProperties?: boolean }).additionalProperties).toBe(false)
  })

  test('hello-world: submitJob → waitForJob(final) → SUCCEEDED with a digest; getLogs per phase', async () => {
    const submitted = await call('submitJob', helloWorld('test/mcp'))
    expect(submitted.isError).toBeFalsy()
    const id = submitted.structuredContent?.id as string
    expect(id).toMatch(/^\d{8}-\d{6}-[0-9a-f]{6}$/)
    expect(text(submitted)).toContain(id)

    let status: Structured | undefined
    for (let i = 0; i < 6 && !(status && ['SUCCEEDED', 'FAILED'].includes(status.status as string)); i++) {
      const r = await call('waitForJob', { id, until: 'final', timeoutSeconds: 30 })
      expect(r.isError).toBeFalsy()
      status = r.structuredContent
    }
    expect(status?.status).toBe('SUCCEEDED')
    const result = status?.result as { digest: string; images: string[] }
    expect(result.digest).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(result.images[0]).toStartWith(`${urls.registry}/test/mcp:`)

    const build = await call('getLogs', { id, phase: 'build', tail: 0 })
    expect(build.isError).toBeFalsy()
    const buildLogs = build.structuredContent?.logs as { task: string; text: string }[]
    expect(buildLogs.map((l) => l.task)).toEqual(['build'])
    expect(buildLogs[0]?.text).toContain(`==> nbs: built localhost/nbs-cache/run-${id}:latest`)
    const tests = await call('getLogs', { id, phase: 'test' })
    expect((tests.structuredContent?.logs as { task: string }[]).map((l) => l.task)).toEqual(['test-0'])
    const publish = await call('getLogs', { id, phase: 'publish' })
    expect((publish.structuredContent?.logs as { task: string; text: string }[])[0]?.task).toBe('publish')

    const again = await call('getStatus', { id })
    expect(again.structuredContent?.status).toBe('SUCCEEDED')
    expect(text(again)).toContain('SUCCEEDED')
    const killed = await call('killJob', { id })
    expect(killed.isError).toBe(true)
    expect(text(killed)).toContain('already finished')
    const listed = await call('listJobs', { limit: 50 })
    expect((listed.structuredContent?.jobs as { id: string }[]).map((j) => j.id)).toContain(id)
  }, 120_000)

  test('bad arguments are isError results naming the field, and create no job', async () => {
    const before = await nomadJobIds()
    const unknown = await call('submitJob', { ...helloWorld('test/mcp-refused'), dockerFile: 'x' })
    expect(unknown.isError).toBe(true)
    expect(text(unknown)).toContain('dockerFile: unknown field')
    const wrongType = await call('submitJob', { ...helloWorld('test/mcp-refused'), tags: 'v1' })
    expect(wrongType.isError).toBe(true)
    expect(text(wrongType)).toContain('tags: expected array')
    const missing = await call('getStatus', {})
    expect(missing.isError).toBe(true)
    expect(text(missing)).toContain('id: is required')
    const badTail = await call('getLogs', { id: '20200101-000000-abcdef', tail: -1 })
    expect(text(badTail)).toContain('tail:')
    const noJob = await call('getStatus', { id: '20200101-000000-abcdef' })
    expect(noJob.isError).toBe(true)
    expect(text(noJob)).toContain('not_found')
    const scheme = await call('submitJob', { ...helloWorld('test/mcp-refused'), repo: 'file:///etc' })
    expect(scheme.isError).toBe(true)
    expect(text(scheme)).toContain('repo:')
    expect(await newJobsFor(before, `${urls.registry}/test/mcp-refused`)).toEqual([])
  })
})
