// What an agent sees over MCP when its client hands the model only the text content: a failed build's cause
// (step, exit code, last lines), progress while it waits, and refusals that say what to send instead.
import { describe, expect, test } from 'bun:test'
import { CallToolResultSchema, type Progress } from '@modelcontextprotocol/sdk/types.js'
import { busyboxDockerfile, gitRepo, urls } from '../support/dev-stack'
import { helloWorld, mcpSession, type ToolResult } from '../support/surfaces'

const { call, client } = mcpSession()
// Only the text: what a client that drops structuredContent gives the model.
const text = (r: ToolResult) => r.content.map((c) => c.text ?? '').join('\n')

/** What an agent does: waitForJob again while its answer says the job has not ended (the shared stack may be busy). */
async function untilFinal(id: string): Promise<ToolResult> {
  for (let i = 0; i < 4; i++) {
    const r = await call('waitForJob', { id, until: 'final' })
    if (!text(r).includes('not finished yet')) return r
  }
  throw new Error(`job ${id} did not end in 4 waits`)
}

describe('MCP text content', () => {
  test("a failed build's cause leads the text alone: cause, step, exit code, the error line", async () => {
    const dockerfile = busyboxDockerfile('RUN echo preparing', 'RUN cat /etc/app.conf')
    const repo = await gitRepo(`agent-view-build-${Date.now()}`, { Containerfile: dockerfile })
    const submitted = await call('submitJob', { repo, image: `${urls.registry}/test/agent-view`, test: { commands: ['true'] } })
    expect(submitted.isError).toBeFalsy()
    const id = submitted.structuredContent?.id as string
    expect(text(submitted)).toContain(`Next: waitForJob {"id":"${id}","until":"final"}`)

    const said = text(await untilFinal(id))
    expect(said.split('\n').slice(0, 3)).toEqual([
      `job ${id}: FAILED, build_failed in build: step 5/5 (RUN cat /etc/app.conf) exited with 1`,
      'cause: step_failed',
      'failing step 5/5 (Dockerfile line 5): RUN cat /etc/app.conf (exit code 1)',
    ])
    expect(said).toContain('cat: can\'t open \'/etc/app.conf\': No such file or directory')
    expect(said).toMatch(/tasks: build failed \(exit \d+\)/)
    expect(text(await call('getStatus', { id: `nbs-${id}` }))).toBe(text(await call('getStatus', { id })))

    const logs = await call('getLogs', { id, failedOnly: true, grep: 'no such file' })
    expect(logs.isError).toBeFalsy()
    const logText = text(logs)
    expect(logText).toContain('failing step 5/5 (Dockerfile line 5): RUN cat /etc/app.conf (exit code 1)')
    expect(logText).toMatch(/=== build failed \(exit \d+\), lines matching "no such file"\ncat: can't open '\/etc\/app.conf': No such file or directory/)
    expect(logText).not.toContain('=== test-0')
    expect(logText).not.toContain('preparing')
  }, 240_000)

  test("a failed test's command, exit code and output are in the text alone", async () => {
    const submitted = await call('submitJob', { ...helloWorld('test/agent-view'), test: { commands: ['echo checking the widget; exit 3', 'true'] } })
    const id = submitted.structuredContent?.id as string
    const said = text(await untilFinal(id))
    expect(said).toContain('FAILED, test_failed in test: test-0 (echo checking the widget; exit 3) exited with 3')
    expect(said).toContain('checking the widget')
    const logs = text(await call('getLogs', { id, failedOnly: true }))
    expect(logs).toMatch(/=== test-0 failed \(exit 3\)\n(.*\n)*checking the widget\n/)
    expect(logs).not.toContain('=== test-1')
    expect(logs).not.toContain('=== build')
  }, 240_000)
})

describe('waitForJob', () => {
  test('sends progress notifications while it waits, and says how to continue when the job has not ended', async () => {
    // A test of a few seconds: a build of an unchanged tree reaches its tests within the first second.
    const submitted = await call('submitJob', { ...helloWorld('test/agent-view'), test: { commands: ['sleep 4'] } })
    const id = submitted.structuredContent?.id as string
    const early = await call('waitForJob', { id, until: 'final', timeoutSeconds: 1 })
    expect(['PENDING', 'BUILDING', 'TESTING']).toContain(early.structuredContent?.status)
    expect(text(early)).toEndWith(`not finished yet: call waitForJob {"id":"${id}","until":"final"} again to keep waiting`)

    const seen: Progress[] = []
    // Longer than the SDK client's 60 s request timeout: the notifications reset it.
    const final = await client().callTool({ name: 'waitForJob', arguments: { id, until: 'final', timeoutSeconds: 150 } }, CallToolResultSchema, {
      onprogress: (p) => seen.push(p),
      resetTimeoutOnProgress: true,
    })
    expect((final.structuredContent as { status: string }).status).toBe('SUCCEEDED')
    expect(seen.length).toBeGreaterThan(0)
    const order = ['PENDING', 'BUILDING', 'TESTING', 'PUBLISHING']
    const phases = seen.map((p) => /^([A-Z]+): .+; [\d.]+ s waited$/.exec(p.message ?? '')?.[1] as string)
    expect(phases.every((p) => order.includes(p))).toBe(true)
    expect(phases).toEqual([...phases].sort((a, b) => order.indexOf(a) - order.indexOf(b)))
    expect(seen.map((p) => p.progress)).toEqual([...seen.map((p) => p.progress)].sort((a, b) => a - b))
    expect(seen.every((p) => p.total === 150)).toBe(true)
  }, 240_000)
})

describe('refusals that say what to send', () => {
  test('cleanup {} names its choices; a bad grep says why; both change nothing', async () => {
    const cleanup = await call('cleanup', {})
    expect(cleanup.isError).toBe(true)
    expect(text(cleanup)).toBe(
      'cleanup failed (invalid_request): cleanup needs id (one job), olderThanSeconds (the finished jobs older than that) or all: true (every finished job)',
    )
    const grep = await call('getLogs', { id: '20200101-000000-abcdef', grep: '/[unclosed/' })
    expect(grep.isError).toBe(true)
    expect(text(grep)).toStartWith('getLogs failed (invalid_request): grep: /[unclosed/ is not a valid regular expression: ')
  })

  test('getServerInfo says what this server accepts, as configured', async () => {
    const info = await call('getServerInfo', {})
    expect(info.isError).toBeFalsy()
    expect(info.structuredContent?.registries.insecure).toContain(urls.registry)
    expect(info.structuredContent?.repo.forms).toContain('git://host/path')
    const { tools } = await client().listTools()
    expect(tools.find((t) => t.name === 'submitJob')?.description).toContain(`${urls.registry}/acme/app`)
  })
})
