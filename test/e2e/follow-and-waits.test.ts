// What real Nomad does that a clean API would not, end to end on the dev stack: a follow stream that
// never ends by itself (conformance: follow-dead-task), and a template whose variable does not
// exist blocking its task for ever (conformance: missing-variable).
import { beforeAll, describe, expect, test } from 'bun:test'
import { ensureStack, nomad, service, urls } from '../support/dev-stack'
import { stoppedByReconciler } from '../support/reconciler'

beforeAll(ensureStack, 180_000)

const image = `${urls.registry}/e2e/follow`
const helloRepo = `${urls.git}/hello-world`

async function collect(id: string, limitMs: number): Promise<{ chunks: { task: string; text: string }[]; ended: boolean }> {
  const chunks: { task: string; text: string }[] = []
  const signal = AbortSignal.timeout(limitMs)
  try {
    for await (const c of service.followLogs({ id }, {}, signal)) chunks.push(c)
    return { chunks, ended: !signal.aborted }
  } catch (e) {
    if (signal.aborted) return { chunks, ended: false }
    throw e
  }
}

describe('log follow', () => {
  test('on a build whose tasks are long dead, the follow ends by itself with every task log', async () => {
    const sub = await service.submitJob({ repo: helloRepo, image, test: { commands: ['echo from-the-test'] } })
    expect((await service.waitForJob({ id: sub.id, until: 'final', timeoutSeconds: 120 })).status).toBe('SUCCEEDED')
    const { chunks, ended } = await collect(sub.id, 30_000)
    expect(ended).toBe(true)
    const text = (task: string) => chunks.filter((c) => c.task === task).map((c) => c.text).join('')
    expect(text('build')).toContain(`built localhost/nbs-cache/run-${sub.id}:latest`)
    expect(text('test-0')).toContain('from-the-test')
    expect(text('publish')).toContain('published sha256:')
  })

  test("parallel tests stream side by side: a fast test's output does not wait for a slow one to end", async () => {
    // Arithmetic, so that the words looked for are in the output and not in the echoed command.
    const sub = await service.submitJob({ repo: helloRepo, image, test: { commands: ['sleep 8; echo slow-test-$((40+2))', 'echo fast-test-$((40+2))'] } })
    const { chunks, ended } = await collect(sub.id, 120_000)
    expect(ended).toBe(true)
    const at = (word: string) => chunks.findIndex((c) => c.text.includes(word))
    expect(at('fast-test-42')).toBeGreaterThanOrEqual(0)
    expect(at('slow-test-42')).toBeGreaterThan(at('fast-test-42'))
  })
})

describe('a secret reference to a variable that does not exist', () => {
  test('ends FAILED infrastructure naming the reference within a bounded time, and the job is stopped', async () => {
    const ref = `nomad:nbs/e2e/absent-${Date.now()}`
    const sub = await service.submitJob({ repo: helloRepo, image, secrets: { git: ref } })
    const st = await service.waitForJob({ id: sub.id, until: 'final', timeoutSeconds: 60 })
    expect(st.status).toBe('FAILED')
    expect(st.failure?.reason).toBe('infrastructure')
    expect(st.failure?.message).toContain(`the secret ${ref} does not exist`)
    // The dev stack's server runs the reconciler: it stops the job, which a read never does.
    expect(await stoppedByReconciler(nomad, sub.id)).toBe(true)
    const after = await service.getStatus(sub.id)
    expect(after.failure?.message).toContain(`the secret ${ref} does not exist`)
  })
})
