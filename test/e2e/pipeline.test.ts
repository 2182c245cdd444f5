// build → test → publish for real: the service against the dev Nomad agent, Buildah, the registry and Git server.
import { beforeAll, describe, expect, test } from 'bun:test'
import { readdirSync, readFileSync } from 'node:fs'
import { ServiceError } from '../../src/errors'
import { nomadJobId } from '../../src/jobs/ids'
import { isFinal } from '../../src/jobs/status-schema'
import { busyboxDockerfile, ensureStack, gitRepo, nomad, registryDigest, service, serviceEnv, urls } from '../support/dev-stack'
import { stoppedByReconciler } from '../support/reconciler'
import { eventually } from '../support/eventually'

beforeAll(ensureStack, 180_000)

/** The processes of this machine (the dev stack's node) whose environment holds the entry `needle`, or whose arguments contain it. */
function processes(where: 'environ' | 'cmdline', needle: string): string[] {
  const found: string[] = []
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const text = readFileSync(`/proc/${pid}/${where}`, 'utf8')
      if (where === 'environ' ? text.split('\0').includes(needle) : text.includes(needle))
        found.push(`${pid}: ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').slice(0, 120)}`)
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found
}
/** The processes of an allocation's tasks: Nomad gives each its NOMAD_ALLOC_ID. */
const allocProcesses = (allocId: string) => processes('environ', `NOMAD_ALLOC_ID=${allocId}`)
const stepProcesses = (mark: string) => processes('cmdline', mark)

const image = `${urls.registry}/e2e/pipeline`
const helloRepo = `${urls.git}/hello-world`
const final = (id: string, timeoutSeconds = 120) => service.waitForJob({ id, until: 'final', timeoutSeconds })

describe('the pipeline on the dev stack', () => {
  test('hello-world: SUCCEEDED, and the registry serves the tag with the reported digest', async () => {
    const tag = `ok-${Date.now()}`
    const sub = await service.submitJob({ repo: helloRepo, image, tags: [tag], test: { commands: ['test "$(cat /hello)" = hello-from-build'], entrypoint: true } })
    expect(sub.images).toEqual([`${image}:${tag}`])
    const st = await final(sub.id)
    expect(st.status).toBe('SUCCEEDED')
    expect(st.result?.images).toEqual([`${image}:${tag}`])
    expect(st.result?.commit).toMatch(/^[0-9a-f]{40}$/)
    expect(await registryDigest(image, tag)).toBe(st.result?.digest)
    // Buildah's steps, or the reuse of the image this node built from the same tree before.
    const logs = await service.getLogs({ id: sub.id, phase: 'build', tail: 0 })
    expect(logs.logs[0]?.text).toContain(`commit ${st.result?.commit}`)
    expect(logs.logs[0]?.text).toMatch(/^(STEP 5\/5: CMD .*|==> nbs: reusing image [0-9a-f]{64}: .*)$/m)
  })

  test('a failing test: FAILED test_failed, the command and exit code in the test log, nothing published', async () => {
    const tag = `tf-${Date.now()}`
    const sub = await service.submitJob({ repo: helloRepo, image, tags: [tag], test: { commands: ['echo checking; exit 3', 'true'] } })
    const st = await final(sub.id)
    expect(st.status).toBe('FAILED')
    expect(st.failure?.reason).toBe('test_failed')
    expect(st.failure?.message).toContain('test-0 (echo checking; exit 3) exited with 3')
    expect(st.tasks.find((t) => t.task === 'test-0')?.exitCode).toBe(3)
    const logs = await service.getLogs({ id: sub.id, task: 'test-0' })
    expect(logs.logs[0]?.text).toContain('echo checking; exit 3')
    expect(logs.logs[0]?.text).toContain('checking')
    expect(logs.logs[0]?.text).toContain('exited with 3')
    const publish = await service.getLogs({ id: sub.id, phase: 'publish' })
    expect(publish.logs[0]?.text).toContain('not publishing: test-0 exited with 3')
    expect(await registryDigest(image, tag)).toBeUndefined()
  })

  test("a broken Containerfile: FAILED build_failed, with Buildah's error in the build log", async () => {
    const sub = await service.submitJob({ repo: `${urls.git}/broken-build`, image, test: { commands: ['true'] } })
    const st = await final(sub.id)
    expect(st.status).toBe('FAILED')
    expect(st.failure?.reason).toBe('build_failed')
    expect(st.failure?.cause).toBe('step_failed')
    expect(st.failure?.step).toEqual({ index: 4, total: 5, instruction: 'RUN make-the-app --release', line: 5 })
    expect(st.failure?.exitCode).toBe(127)
    expect(st.failure?.logTail).toContain('make-the-app')
    const logs = await service.getLogs({ id: sub.id, phase: 'build' })
    expect(logs.logs[0]?.text).toMatch(/Error: building at STEP "RUN make-the-app --release": exit status 127/)
    expect(st.tasks.filter((t) => t.phase === 'test').every((t) => t.state === 'skipped')).toBe(true)
  })

  test('kill during BUILDING: FAILED killed, and nothing of the job is left running, in Nomad or on the node', async () => {
    // The build step's command line carries a mark of its own: a step runs in the image's
    // environment, not the task's, so only its arguments tell it from another build's.
    const mark = `nbs-slow-step-${Date.now()}`
    const repo = await gitRepo('slow-build', { Dockerfile: busyboxDockerfile(`RUN sleep 120; echo ${mark}`) })
    const sub = await service.submitJob({ repo, image, test: { commands: ['true'] } })
    // Placed at once, the build may read BUILDING on the first look: "change" would then wait for the next status.
    let building = await service.getStatus(sub.id)
    if (building.status === 'PENDING') building = await service.waitForJob({ id: sub.id, timeoutSeconds: 60, until: 'change' })
    expect(building.status).toBe('BUILDING')
    const allocId = (await nomad.jobs.allocations(nomadJobId(sub.id))).data[0]!.ID
    // Before the kill both probes see the build: the task's processes and the step's.
    await eventually('the task\'s and the step\'s processes', async () => stepProcesses(mark).length > 0 && allocProcesses(allocId).length > 0, 60_000, 100)
    // killJob's answer is what nbs kill prints: every task has ended by then, none reads running.
    const killed = await service.killJob(sub.id)
    expect(killed.status).toBe('FAILED')
    expect(killed.failure?.cause).toBe('killed')
    expect(killed.tasks.map((t) => t.state)).not.toContain('running')
    const st = await final(sub.id, 60)
    expect(st.status).toBe('FAILED')
    expect(st.failure?.reason).toBe('killed')
    // Poststop publish still runs after a stop; wait for it to end too.
    const allocs = await eventually(
      'the allocation ended',
      async () => {
        const now = (await nomad.jobs.allocations(nomadJobId(sub.id))).data
        return !now.some((a) => a.ClientStatus === 'running' || a.ClientStatus === 'pending') && now
      },
      30_000,
      250,
    )
    expect(allocs.map((a) => a.ClientStatus)).toEqual(['complete'])
    const alloc = (await nomad.allocations.info(allocs[0]!.ID)).data
    expect(Object.values(alloc.TaskStates ?? {}).every((t) => t.State === 'dead')).toBe(true)
    // Nomad's word is not the node's: no process of the allocation and no process of the build step is left.
    // (Waited for, then the expects name whatever is left.)
    await eventually('no process of the allocation or the step left', async () => allocProcesses(allocId).length === 0 && stepProcesses(mark).length === 0, 15_000, 250).catch(() => undefined)
    expect(allocProcesses(allocId)).toEqual([])
    expect(stepProcesses(mark)).toEqual([])
  })

  test('an exec-form test gets its empty arguments', async () => {
    const check = 'test $# = 3 && test -z "$1" && test "$2" = two && test -z "$3" && echo empty-arg-ok'
    const sub = await service.submitJob({ repo: helloRepo, image, test: { commands: [['/bin/busybox', 'sh', '-c', check, 'zero', '', 'two', '']] } })
    const st = await final(sub.id)
    expect(st.status).toBe('SUCCEEDED')
    expect((await service.getLogs({ id: sub.id, task: 'test-0' })).logs[0]?.text).toContain('empty-arg-ok')
  })

  test('a fresh process reads the same status and logs: the state is in Nomad', async () => {
    const sub = await service.submitJob({ repo: helloRepo, image, test: { commands: ['true'] } })
    const mine = await final(sub.id)
    const script = `
      import { loadConfig } from './src/config'
      import { createService } from './src/service/index'
      const s = createService(loadConfig())
      const id = process.env.PROBE_ID as string
      console.log(JSON.stringify({ status: await s.getStatus(id), logs: await s.getLogs({ id }) }))`
    const child = Bun.spawnSync([process.execPath, '-e', script], { env: { ...process.env, ...serviceEnv, PROBE_ID: sub.id }, cwd: `${import.meta.dir}/../..` })
    expect(child.exitCode).toBe(0)
    const theirs = JSON.parse(child.stdout.toString())
    expect(theirs.status).toEqual(mine)
    expect(theirs.logs).toEqual(await service.getLogs({ id: sub.id }))
  })

  test('more memory than any node has: FAILED infrastructure with the cause in words, not a hang', async () => {
    const sub = await service.submitJob({ repo: helloRepo, image, resources: { memory: 10_000_000 } })
    const st = await service.waitForJob({ id: sub.id, until: 'final', timeoutSeconds: 30 })
    expect(st.status).toBe('FAILED')
    expect(st.failure?.reason).toBe('infrastructure')
    expect(st.failure?.message).toContain('not enough memory: asked 10000000 MB')
    // The dev server's reconciler stops the job, so a blocked evaluation cannot place it later;
    // the read above did not.
    expect(await stoppedByReconciler(nomad, sub.id)).toBe(true)
  })

  test('bad input is refused before anything reaches Nomad', async () => {
    const ids = async () => (await nomad.jobs.list('nbs-')).data.map((j) => j.ID)
    const before = await ids()
    const bad = [
      { repo: helloRepo, image, unknownField: 1 },
      { repo: helloRepo },
      { repo: 'file:///etc', image },
      { repo: helloRepo, image, tags: ['no good'] },
    ]
    for (const input of bad) {
      const e = await service.submitJob(input).catch((x: unknown) => x)
      expect(e).toBeInstanceOf(ServiceError)
      expect((e as ServiceError).field).toBeDefined()
    }
    expect((await ids()).filter((id) => !before.includes(id))).toEqual([])
  })

  test('an unknown job id is not_found, naming the field', async () => {
    const e = (await service.getStatus('20200101-000000-000000').catch((x: unknown) => x)) as ServiceError
    expect(e.code).toBe('not_found')
    expect(e.field).toBe('id')
  })
})

describe('one rule for publishing', () => {
  test('a kill at any point: the registry holds the tag if and only if the status is SUCCEEDED with that digest', async () => {
    // The last "delay" is the build's end: a kill after it is refused, and the build stays SUCCEEDED.
    const delays = [0, 1500, 3000, 4500, 6000, 7500, 9000, Number.POSITIVE_INFINITY]
    const outcomes = await Promise.all(
      delays.map(async (delay) => {
        const tag = `kill-${delay}-${Date.now()}`
        const sub = await service.submitJob({ repo: helloRepo, image, tags: [tag], test: { commands: ['sleep 2'] } })
        if (delay === Number.POSITIVE_INFINITY) await final(sub.id)
        else await Bun.sleep(delay)
        const refused = await service.killJob(sub.id).then(
          () => undefined,
          (e: ServiceError) => e,
        )
        // Refused only because the job was publishing or had finished: never for another reason.
        if (refused) expect(refused.message).toMatch(/is publishing|has already finished/)
        const st = await final(sub.id)
        // Ended, Nomad included: every task that started has finished (a kill that landed before the first task once left one pending for ever).
        const ended = isFinal(st.status) && (st.finishedAt !== undefined || !st.tasks.some((t) => t.startedAt))
        return { delay, ended, status: st.status, digest: st.result?.digest, images: st.result?.images, registry: await registryDigest(image, tag), tag }
      }),
    )
    expect(outcomes.filter((o) => !o.ended)).toEqual([])
    for (const o of outcomes) {
      if (o.status === 'SUCCEEDED') {
        expect(o.registry).toBe(o.digest!)
        expect(o.images).toEqual([`${image}:${o.tag}`])
      } else expect(o.registry).toBeUndefined()
    }
    // The delays reach from before the build to after the push: both verdicts occur.
    expect(outcomes.some((o) => o.status === 'FAILED')).toBe(true)
    expect(outcomes.some((o) => o.status === 'SUCCEEDED')).toBe(true)
  }, 300_000)
})
