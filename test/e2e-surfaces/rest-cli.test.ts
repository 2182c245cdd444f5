// REST end to end: `nbs serve` as its own process, the CLI's HTTP client (SSE logs), the CLI itself, two replicas.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { HttpBuildApi } from '../../src/cli/http-client'
import { ServiceError } from '../../src/errors'
import { urls } from '../support/dev-stack'
import { ensureStack, helloWorld, mainTs, projectDir, type ServerProcess, serviceEnv, spawnServer } from '../support/surfaces'

let a: ServerProcess
let b: ServerProcess

beforeAll(async () => {
  await ensureStack()
  ;[a, b] = await Promise.all([spawnServer(), spawnServer()])
}, 120_000)

afterAll(async () => {
  await Promise.all([a?.stop('SIGKILL'), b?.stop('SIGKILL')])
})

async function nbs(...args: string[]) {
  const p = Bun.spawn([process.execPath, mainTs, ...args], {
    cwd: projectDir,
    env: { ...process.env, ...serviceEnv, NBS_SERVER: a.url },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const [stdout, stderr, status] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited])
  return { stdout, stderr, status }
}

describe('REST through the HTTP client', () => {
  test('submit, follow the logs as SSE, wait; a second server answers the same status', async () => {
    const api = new HttpBuildApi(a.url)
    const { id } = await api.submitJob(helloWorld('test/rest'))
    const chunks: { task: string; text: string }[] = []
    for await (const c of api.followLogs({ id })) chunks.push(c)
    const tasks = [...new Set(chunks.map((c) => c.task))]
    expect(tasks).toEqual(['build', 'test-0', 'publish'])
    expect(chunks.filter((c) => c.task === 'build').map((c) => c.text).join('')).toContain(`==> nbs: built localhost/nbs-cache/run-${id}:latest`)
    const final = await api.waitForJob({ id, until: 'final', timeoutSeconds: 60 })
    expect(final.status).toBe('SUCCEEDED')
    expect(final.result?.digest).toMatch(/^sha256:[0-9a-f]{64}$/)
    // Stateless: any replica reports the same facts (DESIGN.md: every fact lives in Nomad).
    const other = await new HttpBuildApi(b.url).getStatus(id)
    expect(other).toEqual(await api.getStatus(id))
    const logs = await api.getLogs({ id, phase: 'test', tail: 10 })
    expect(logs.logs.map((l) => l.task)).toEqual(['test-0'])
    // Problems come back as the same ServiceError the in-process service throws.
    const err = await api.killJob(id).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ServiceError)
    expect((err as ServiceError).code).toBe('conflict')
    expect((err as ServiceError).field).toBe('id')
    // The raw stream: `log` events with {task,text}, and last an `end` event carrying the final status.
    const sse = await (await fetch(`${a.url}/v1/jobs/${id}/logs?follow=true&phase=test`)).text()
    const events = sse.trim().split('\n\n').map((e) => ({ event: /^event: (.*)$/m.exec(e)?.[1], data: JSON.parse(/^data: (.*)$/m.exec(e)?.[1] ?? 'null') }))
    expect(events.at(-1)?.event).toBe('end')
    expect(events.at(-1)?.data.status).toBe('SUCCEEDED')
    expect(events.slice(0, -1).every((e) => e.event === 'log' && e.data.task === 'test-0')).toBe(true)
    expect(events.length).toBeGreaterThan(1)
    const removed = await api.cleanup({ id })
    expect(removed.removed).toEqual([id])
    const gone = await api.getStatus(id).catch((e: unknown) => e)
    expect((gone as ServiceError).code).toBe('not_found')
  }, 120_000)

  test('refused fields come back with their names', async () => {
    const err = await new HttpBuildApi(a.url).submitJob({ ...helloWorld('test/rest'), bogus: true }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ServiceError)
    expect((err as ServiceError).code).toBe('invalid_request')
    expect((err as ServiceError).field).toBe('bogus')
    expect((err as ServiceError).details).toEqual([{ field: 'bogus', message: 'unknown field' }])
  })

  test('the CLI goes through the server: submit --wait, status, logs, an unknown id', async () => {
    const submit = await nbs('submit', '-f', 'examples/hello-world/nbs.yaml', '--image', `${urls.registry}/test/rest-cli`, '--wait', '--json')
    expect(submit.status).toBe(0)
    const final = JSON.parse(submit.stdout.trim().split('\n').at(-1) as string) as { id: string; status: string }
    expect(final.status).toBe('SUCCEEDED')
    const status = await nbs('--server', b.url, 'status', final.id)
    expect(status.stdout).toContain(`job ${final.id}: SUCCEEDED`)
    const logs = await nbs('logs', final.id, '--phase', 'build')
    expect(logs.stdout).toContain('=== build (succeeded)')
    const missing = await nbs('status', '20200101-000000-abcdef')
    expect(missing.status).toBe(2)
    expect(missing.stderr).toContain('no job 20200101-000000-abcdef')
    const down = await nbs('--server', 'http://127.0.0.1:9', 'status', final.id)
    expect(down.status).toBe(2)
    expect(down.stderr).toContain('cannot reach the server')
  }, 120_000)

  test('nbs health: 0 against a live server, 1 against nothing', async () => {
    expect((await nbs('health')).status).toBe(0)
    expect((await nbs('--server', 'http://127.0.0.1:9', 'health')).status).toBe(1)
  })

  test('SIGTERM stops the server cleanly (exit 0)', async () => {
    const c = await spawnServer()
    expect(await c.stop('SIGTERM')).toBe(0)
    expect(c.output()).toContain('SIGTERM: stopping')
  })
})
