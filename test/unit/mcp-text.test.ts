// What an agent reads over MCP without structuredContent: the failure's cause within a bounded text; what the
// server accepts (getServerInfo) and tool descriptions whose examples this server, as configured, accepts.
import { describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js'
import { loadConfig } from '../../src/config'
import { buildCause } from '../../src/jobs/cause'
import type { JobStatus } from '../../src/jobs/status-schema'
import { validateRequest } from '../../src/jobs/validate'
import { progressMessage } from '../../src/mcp/progress'
import { createMcpServer } from '../../src/mcp/server'
import { logsText, statusText, TEXT_BUDGET, waitText } from '../../src/mcp/summary'
import { NomadClient } from '../../src/nomad/client'
import type { BuildApi } from '../../src/service/api'
import { BuildService } from '../../src/service/build-service'
import { serverInfo } from '../../src/service/server-info'

// Buildah's own output of a failed build, recorded on real Nomad 2.0.5.
const recorded = join(import.meta.dir, '../fixtures/nomad-2.0.5/buildah-pipeline-build-fails')
const buildLog = ['stdout', 'stderr'].map((s) => readFileSync(join(recorded, `logs-build-${s}.txt`), 'utf8')).join('')

const failed: JobStatus = {
  id: '20261201-120000-abcdef',
  status: 'FAILED',
  createdAt: '2026-12-01T12:00:00Z',
  finishedAt: '2026-12-01T12:00:09Z',
  tasks: [
    { task: 'build', phase: 'build', state: 'failed', exitCode: 2 },
    { task: 'test-0', phase: 'test', state: 'skipped', command: 'true' },
    { task: 'publish', phase: 'publish', state: 'succeeded', exitCode: 0 },
  ],
  failure: { reason: 'build_failed', phase: 'build', message: 'the build failed with exit code 2', ...buildCause(buildLog, 2), logTail: buildLog },
  request: { repo: 'git://127.0.0.1:9418/x', image: '127.0.0.1:5000/x' },
}

describe('text content', () => {
  test("a failed build: the cause, the failing step, the exit code and the log's last lines, the cause first", () => {
    const text = statusText(failed)
    const [first, second, third] = text.split('\n')
    expect(first).toBe('job 20261201-120000-abcdef: FAILED, build_failed in build: step 3/3 (RUN ["/bin/busybox","sh","-c","echo compiling; exit 2"]) exited with 2')
    expect(second).toBe('cause: step_failed')
    expect(third).toBe('failing step 3/3: RUN ["/bin/busybox","sh","-c","echo compiling; exit 2"] (exit code 2)')
    expect(text).toContain('tasks: build failed (exit 2), test-0 skipped, publish succeeded (exit 0)')
    expect(text).toContain('compiling\n')
    expect(text).toContain('getLogs {"id":"20261201-120000-abcdef","phase":"build","tail":0}')
  })

  test('a hint is said; a failure recorded before causes existed reads its message', () => {
    const hinted = statusText({ ...failed, failure: { ...failed.failure!, cause: 'dockerfile_invalid', hint: 'did you mean RUN?' } })
    expect(hinted).toContain('\nhint: did you mean RUN?\n')
    const { cause: _, summary: __, step: ___, exitCode: ____, ...old } = failed.failure!
    const text = statusText({ ...failed, failure: old })
    expect(text.split('\n')[0]).toBe('job 20261201-120000-abcdef: FAILED, build_failed in build: the build failed with exit code 2')
    expect(text).not.toContain('cause:')
  })

  test('a job that has ended says a task still ending, never running: in its text and its progress', async () => {
    const ending = { ...failed, finishedAt: undefined, tasks: failed.tasks.map((t) => (t.task === 'publish' ? { task: t.task, phase: t.phase, state: 'running' as const } : t)) }
    const text = statusText(ending)
    expect(text).toContain('publish still ending')
    expect(text).not.toContain('running')
    // A FAILED status reads no log for its progress: no server is asked.
    const progress = await progressMessage({} as BuildApi, ending, {}, 3)
    expect(progress).toBe('FAILED: publish still ending; 3 s waited')
  })

  test('a huge log stays within the budget and keeps its end', () => {
    const huge = `${Array.from({ length: 50_000 }, (_, i) => `line ${i}`).join('\n')}\nError: building at STEP "RUN make": exit status 2\n`
    const text = statusText({ ...failed, failure: { ...failed.failure!, logTail: huge } })
    expect(text.length).toBeLessThan(TEXT_BUDGET + 1000)
    expect(text).toContain('line 49999\nError: building at STEP')
    expect(text).toMatch(/\(\d+ earlier lines left out\)/)
  })

  test('getLogs: a short log is never cut for a long one; the whole answer is bounded', () => {
    const long = Array.from({ length: 20_000 }, (_, i) => `build line ${i}`).join('\n')
    const text = logsText({
      id: failed.id,
      status: 'FAILED',
      failure: { reason: 'test_failed', phase: 'test', message: 'test-1 (go test ./...) exited with 1' },
      logs: [
        { task: 'build', phase: 'build', state: 'succeeded', exitCode: 0, text: long, truncated: false },
        { task: 'test-0', phase: 'test', state: 'succeeded', exitCode: 0, text: 'ok\n', truncated: false },
        { task: 'test-1', phase: 'test', state: 'failed', exitCode: 1, text: '--- FAIL: TestX\nFAIL\n', truncated: false },
      ],
    })
    expect(text.length).toBeLessThan(TEXT_BUDGET + 1000)
    expect(text).toContain('test_failed in test: test-1 (go test ./...) exited with 1')
    expect(text).toContain('=== test-1 failed (exit 1)\n--- FAIL: TestX\nFAIL')
    expect(text).toContain('=== test-0 succeeded (exit 0)\nok')
    expect(text).toContain('build line 19999')
    expect(text).toMatch(/\d+ more lines are in structuredContent/)
  })

  test('waitForJob before the end says how to continue', () => {
    const building: JobStatus = { ...failed, status: 'BUILDING', failure: undefined, finishedAt: undefined }
    expect(waitText(building)).toEndWith('not finished yet: call waitForJob {"id":"20261201-120000-abcdef","until":"final"} again to keep waiting')
    expect(waitText(failed)).not.toContain('call waitForJob')
  })
})

const env = {
  NBS_PROFILE: 'raw_exec',
  NBS_INSECURE_REGISTRIES: 'registry.internal:5000',
  NBS_ALLOW_INSECURE_GIT: '1',
  NBS_SECRET_PREFIXES: 'vault:kv/data/team-a/',
  NBS_MAX_IN_FLIGHT: '3',
  NBS_GPU_NODE_POOL: 'gpu',
}
const config = loadConfig(env)

describe('getServerInfo', () => {
  test("from the server's configuration", () => {
    const info = serverInfo(config, {})
    expect(info.profile).toBe('raw_exec')
    expect(info.repo.forms).toEqual(['https://host/path', 'ssh://host/path', 'git@host:path', 'git://host/path', 'http://host/path'])
    expect(info.registries.insecure).toEqual(['registry.internal:5000'])
    expect(info.secrets.prefixes).toEqual(['vault:kv/data/team-a/'])
    expect(info.limits).toMatchObject({ bodyBytes: 256 * 1024, requestBytes: 64 * 1024, testCommands: 32, tags: 16, maxInFlight: 3, waitSeconds: 600 })
    expect(info.defaults).toEqual({ timeouts: { build: 1800, test: 600, publish: 600 }, resources: { cpu: 200, memory: 1024 }, waitSeconds: 50 })
    expect(info.gpuNodePool).toBe('gpu')
    expect(serverInfo(loadConfig({}), {}).repo.forms).not.toContain('git://host/path')
  })

  test("a client's own entry wins: its secret prefixes and builds in flight", () => {
    const info = serverInfo(config, { secretPrefixes: ['nomad:nbs/bob/'], maxInFlight: 1 })
    expect(info.secrets.prefixes).toEqual(['nomad:nbs/bob/'])
    expect(info.limits.maxInFlight).toBe(1)
  })
})

describe('tool descriptions', () => {
  async function listed(caller = {}) {
    // serverInfo needs no Nomad: nothing listens on this address.
    const service = new BuildService(new NomadClient({ address: 'http://127.0.0.1:9' }), config)
    const [a, b] = InMemoryTransport.createLinkedPair()
    await createMcpServer(service, caller).connect(a)
    const client = new Client({ name: 'test', version: '0' })
    await client.connect(b)
    const { tools } = await client.listTools()
    await client.close()
    return Object.fromEntries(tools.map((t) => [t.name, t.description ?? '']))
  }

  test("submitJob's examples are this server's: its registry, the caller's secret prefix, and it accepts them", async () => {
    const d = await listed()
    const submit = d.submitJob as string
    expect(submit).toContain('registry.internal:5000/acme/app')
    expect(submit).toContain('"registry":"vault:kv/data/team-a/registry"')
    expect(submit).toContain('secret references must start with vault:kv/data/team-a/')
    expect(submit).toContain('repo as https://host/path, ssh://host/path, git@host:path, git://host/path, http://host/path')
    expect(submit).toContain('getServerInfo')
    expect(Object.values(d).join('\n')).not.toContain('example.com')
    const examples = [...submit.matchAll(/^(?:Example|With credentials): (\{.*\})$/gm)].map((m) => JSON.parse(m[1] as string))
    expect(examples).toHaveLength(2)
    for (const e of examples) expect(validateRequest(e, { allowInsecureGit: true, secretPrefixes: ['vault:kv/data/team-a/'], sshHostKeyChecking: true })).toEqual(e)
  })

  test('a caller with prefixes of its own sees those; one with none is told it may use none', async () => {
    expect((await listed({ secretPrefixes: ['nomad:nbs/bob'] })).submitJob).toContain('"registry":"nomad:nbs/bob/registry"')
    const none = (await listed({ secretPrefixes: [] })).submitJob as string
    expect(none).toContain('you may use no secret references')
    expect(none).not.toContain('With credentials')
  })
})
