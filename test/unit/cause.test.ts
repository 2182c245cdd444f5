// failure.cause from what real builds printed: Buildah 1.28 and Git 2.39 on the dev stack
// (test/fixtures/buildah-1.28, made by test/support/record-causes.ts), and Nomad's task events.
import { describe, expect, test } from 'bun:test'
import type { JobRequest } from '../../src/jobs/request'
import { deriveStatus, type StatusInput } from '../../src/jobs/status'
import type { JobStatus } from '../../src/jobs/status-schema'
import type { Allocation, Job } from '../../src/nomad/types'
import { settled, waitLoop } from '../../src/service/wait'
import { fixture, recorded } from '../support/fixtures'

const image = '127.0.0.1:36500/record/causes'
const noTests: JobRequest = { repo: 'git://127.0.0.1:36418/causes', image }
const oneTest = (command: string): JobRequest => ({ ...noTests, test: { commands: [command] } })

function statusOf(scenario: string, task: string, request: JobRequest = noTests, alloc = 'alloc-final.json', job: Partial<Job> = {}): JobStatus {
  const input: StatusInput = {
    id: 'x',
    request,
    createdAt: '2026-12-05T08:50:00.000Z',
    job: job as Job,
    alloc: recorded<Allocation>(scenario, alloc),
    evaluations: [],
    tails: { [task]: recorded<string>(scenario, `${task}.log`) },
  }
  return deriveStatus(input)
}

describe('the build phase (recorded)', () => {
  test('an unknown instruction: dockerfile_invalid at its step, the line as written, "did you mean RUN?"', () => {
    const f = statusOf('unknown-instruction', 'build').failure
    expect(f?.reason).toBe('build_failed')
    expect(f?.message).toBe('the build failed with exit code 125')
    expect(f?.cause).toBe('dockerfile_invalid')
    expect(f?.step).toEqual({ index: 4, total: 4, instruction: 'RUNN echo hi', line: 4 })
    expect(f?.summary).toBe('step 4/4: unknown instruction RUNN in "RUNN echo hi"')
    expect(f?.hint).toBe('did you mean RUN?')
    expect(f?.exitCode).toBe(125)
  })

  test('a RUN that exits 42 at step 4 of 4: step_failed, exit code 42', () => {
    const f = statusOf('run-exit-42', 'build').failure
    expect(f?.cause).toBe('step_failed')
    expect(f?.step).toEqual({ index: 4, total: 4, instruction: 'RUN echo failing on purpose; exit 42', line: 4 })
    expect(f?.exitCode).toBe(42)
    expect(f?.summary).toBe('step 4/4 (RUN echo failing on purpose; exit 42) exited with 42')
    expect(f?.logTail).toContain('failing on purpose')
  })

  test('a COPY source that is not there: step_failed naming the file, a hint about the context', () => {
    const f = statusOf('copy-missing', 'build').failure
    expect(f?.cause).toBe('step_failed')
    expect(f?.step).toEqual({ index: 4, total: 4, instruction: 'COPY not-there.txt /app/', line: 4 })
    expect(f?.summary).toBe('step 4/4 (COPY not-there.txt /app/): not-there.txt is not in the build context')
    expect(f?.hint).toContain('.dockerignore')
  })

  test("a base image the registry does not have: base_image_unavailable, the reference and the registry's words", () => {
    const f = statusOf('base-missing', 'build').failure
    expect(f?.cause).toBe('base_image_unavailable')
    expect(f?.summary).toBe('the base image 127.0.0.1:36500/nope/missing:latest cannot be pulled: manifest unknown: manifest unknown')
    expect(f?.hint).toContain('check FROM')
    expect(f?.step).toEqual({ index: 1, total: 2, instruction: 'FROM 127.0.0.1:36500/nope/missing', line: 1 })
  })

  test("a repository that does not exist: clone_failed with Git's words, not exit code 128 alone", () => {
    const f = statusOf('repo-missing', 'build').failure
    expect(f?.cause).toBe('clone_failed')
    expect(f?.exitCode).toBe(128)
    expect(f?.summary).toBe('git could not fetch git://127.0.0.1:36418/does-not-exist: remote error: access denied or repository not exported: /does-not-exist')
    expect(f?.hint).toContain('check the repo URL')
  })

  test('a ref the repository lacks: ref_not_found', () => {
    const f = statusOf('ref-missing', 'build').failure
    expect(f?.cause).toBe('ref_not_found')
    expect(f?.summary).toBe('ref no-such-branch is not a branch, tag or commit of git://127.0.0.1:36418/hello-world')
  })

  test('no Dockerfile, and a Dockerfile that leaves the repository: context_invalid in the check\'s words', () => {
    const none = statusOf('no-dockerfile', 'build').failure
    expect(none?.cause).toBe('context_invalid')
    expect(none?.summary).toBe('no Dockerfile or Containerfile in .')
    const escapes = statusOf('dockerfile-escapes', 'build').failure
    expect(escapes?.cause).toBe('context_invalid')
    expect(escapes?.summary).toBe('dockerfile Dockerfile (in .) leaves the repository: it resolves outside the clone')
  })

  test("a Dockerfile line is named only where build.sh's map counts the stage's steps as Buildah did", () => {
    const log = recorded<string>('run-exit-42', 'build.log')
    const miscounted = log.replace('its steps start on Dockerfile lines 1 2 3 4', 'its steps start on Dockerfile lines 1 2 3')
    const st = deriveStatus({ id: 'x', request: noTests, createdAt: '', job: {} as Job, alloc: recorded<Allocation>('run-exit-42', 'alloc-final.json'), evaluations: [], tails: { build: miscounted } })
    expect(st.failure?.step).toEqual({ index: 4, total: 4, instruction: 'RUN echo failing on purpose; exit 42' })
  })

  test('a step of the second stage: numbered within its stage, the stage named', () => {
    const f = statusOf('multistage-step', 'build').failure
    expect(f?.cause).toBe('step_failed')
    expect(f?.step).toEqual({ index: 2, total: 2, instruction: 'RUN echo second stage; exit 7', line: 6, stage: { index: 2, total: 2 } })
    expect(f?.summary).toBe('step 2/2 of stage 2/2 (RUN echo second stage; exit 7) exited with 7')
  })

  test('a build that runs out of time: timeout, at the step it was running', () => {
    const f = statusOf('build-timeout', 'build').failure
    expect(f?.reason).toBe('timeout')
    expect(f?.message).toBe('the build phase ran out of time (timeouts.build)')
    expect(f?.cause).toBe('timeout')
    expect(f?.step).toEqual({ index: 4, total: 4, instruction: 'RUN sleep 60' })
    expect(f?.summary).toBe('the build phase ran out of time (timeouts.build) during step 4/4 (RUN sleep 60)')
  })

  test('a kill during the build: killed, at the step it was running', () => {
    const f = statusOf('killed-building', 'build', oneTest('true'), 'alloc-final.json', { Stop: true }).failure
    expect(f?.reason).toBe('killed')
    expect(f?.cause).toBe('killed')
    expect(f?.step).toEqual({ index: 2, total: 4, instruction: 'COPY busybox /bin/busybox' })
    expect(f?.summary).toBe('the job was killed during build, at step 2/4 (COPY busybox /bin/busybox); nothing was published')
  })
})

describe('tests and publish (recorded)', () => {
  test('a failing test: test_failed with its exit code', () => {
    const f = statusOf('test-fails', 'test-0', oneTest('echo checking; exit 3')).failure
    expect(f?.cause).toBe('test_failed')
    expect(f?.exitCode).toBe(3)
    expect(f?.summary).toBe('test-0 (echo checking; exit 3) exited with 3')
    expect(f?.logTail).toContain('checking')
  })

  test('a test that runs out of time: test_timeout, reason timeout as before', () => {
    const f = statusOf('test-timeout', 'test-0', oneTest('sleep 60')).failure
    expect(f?.reason).toBe('timeout')
    expect(f?.cause).toBe('test_timeout')
    expect(f?.summary).toBe('test-0 (sleep 60) ran out of time (test.timeout)')
  })

  test('a push where nothing listens: registry_unreachable with the dial error', () => {
    const f = statusOf('push-unreachable', 'publish').failure
    expect(f?.reason).toBe('publish_failed')
    expect(f?.cause).toBe('registry_unreachable')
    expect(f?.summary).toMatch(/^the registry 127\.0\.0\.1:36502 could not be reached to push 127\.0\.0\.1:36502\/record\/causes:\S+: dial tcp 127\.0\.0\.1:36502: connect: connection refused$/)
  })

  test("a registry that wants credentials: publish_rejected with the registry's words", () => {
    const f = statusOf('push-unauthorized', 'publish').failure
    expect(f?.cause).toBe('publish_rejected')
    expect(f?.summary).toMatch(/^the registry refused the push of 127\.0\.0\.1:36503\/record\/causes:\S+: unauthorized: authentication required$/)
    expect(f?.hint).toContain('secrets.registry')
  })

  test('credentials the registry refuses: publish_rejected at the login, pointing at secrets.registry', () => {
    const f = statusOf('login-refused', 'publish').failure
    expect(f?.cause).toBe('publish_rejected')
    expect(f?.summary).toBe('the registry 127.0.0.1:36503 refused the login: invalid username/password')
    expect(f?.hint).toContain('secrets.registry')
  })
})

describe("Nomad's task events", () => {
  test('an uploaded source that fails its checksum or is gone (recorded on Nomad 2.0.5): source_unavailable, resubmit', () => {
    for (const [file, words] of [
      ['alloc-badsum.json', 'Checksums did not match'],
      ['alloc-missing.json', 'bad response code: 404'],
    ] as const) {
      const alloc = fixture<Allocation>('artifact', file)
      const st = deriveStatus({ id: 'x', request: noTests, createdAt: '', job: {} as Job, alloc, evaluations: [] })
      expect(st.status).toBe('FAILED')
      expect(st.failure?.cause).toBe('source_unavailable')
      expect(st.failure?.summary).toContain(words)
      expect(st.failure?.summary).toContain('upload the directory again and resubmit')
      expect(st.failure?.summary).toMatch(/source http:\/\/127\.0\.0\.1:34065\/(good|nope)\.tgz/)
    }
  })

  // Not recordable here (nomadlite has no Vault): the event as Nomad 2.0.5 emits it for a failed
  // prestart hook, TaskHookFailed with "<hook>: <error>" (client/allocrunner/taskrunner: emitHookError).
  test('a Vault login Nomad could not make: secret_unavailable with its words, not "the push failed with exit code unknown"', () => {
    const words = 'vault: failed to derive Vault token: failed to login with JWT: Error making API request. Code: 400. Errors: * role "nbs-build" could not be found'
    const alloc = fixture<Allocation>('buildah-pipeline-build-fails', 'alloc-final.json')
    const build = alloc.TaskStates!.build!
    const refused: Allocation = {
      ...alloc,
      TaskStates: {
        ...alloc.TaskStates,
        build: {
          ...build,
          Failed: true,
          StartedAt: null,
          Events: [
            { Type: 'Received', DisplayMessage: 'Task received by client' },
            { Type: 'Task hook failed', DisplayMessage: words, Message: words },
            { Type: 'Not Restarting', DisplayMessage: 'Policy allows no restarts' },
          ],
        },
      },
    }
    const st = deriveStatus({ id: 'x', request: oneTest('true'), createdAt: '', job: {} as Job, alloc: refused, evaluations: [] })
    expect(st.failure?.reason).toBe('infrastructure')
    expect(st.failure?.cause).toBe('secret_unavailable')
    expect(st.failure?.summary).toBe(`task build could not start: ${words}`)
    expect(st.failure?.hint).toContain('Vault')
  })

  test('a Nomad Variable that does not exist (recorded on Nomad 2.0.5): secret_unavailable, said to be absent', () => {
    const alloc = fixture<Allocation>('missing-variable', 'alloc-waiting.json')
    const st = deriveStatus({ id: 'x', request: oneTest('true'), createdAt: '', job: {} as Job, alloc, evaluations: [] })
    expect(st.failure?.cause).toBe('secret_unavailable')
    expect(st.failure?.summary).toBe('task test-0 cannot start: the secret nomad:nomad/jobs/conformance-absent does not exist (create it, or fix the reference in secrets)')
  })

  test('a Vault read that fails reads as Missing, like an absent secret: not said to be absent', () => {
    const alloc = fixture<Allocation>('missing-variable', 'alloc-waiting.json')
    const events = alloc.TaskStates!['test-0']!.Events!.map((e) =>
      e.DisplayMessage?.startsWith('Missing: ') ? { ...e, DisplayMessage: 'Missing: vault.read(kv/data/ci/registry)' } : e,
    )
    const vault = { ...alloc, TaskStates: { build: { ...alloc.TaskStates!['test-0']!, Events: events } } }
    const st = deriveStatus({ id: 'x', request: noTests, createdAt: '', job: {} as Job, alloc: vault, evaluations: [] })
    expect(st.failure?.cause).toBe('secret_unavailable')
    expect(st.failure?.summary).toContain('vault:kv/data/ci/registry cannot be read')
    expect(st.failure?.summary).not.toContain('does not exist')
  })
})

describe('a final answer never shows a task running (recorded: publish still ran when the status read FAILED)', () => {
  const scenarios = [
    ['unknown-instruction', 'build', noTests],
    ['repo-missing', 'build', noTests],
    ['test-fails', 'test-0', oneTest('echo checking; exit 3')],
    ['killed-building', 'build', oneTest('true')],
  ] as const

  test.each(scenarios)('%s: FAILED with its cause at once, yet not settled while publish runs', (scenario, task, request) => {
    const job = scenario === 'killed-building' ? { Stop: true } : {}
    const early = statusOf(scenario, task, request, 'alloc-publish-running.json', job)
    expect(early.status).toBe('FAILED')
    expect(early.failure?.cause).toBeDefined()
    expect(early.tasks.find((t) => t.task === 'publish')?.state).toBe('running')
    expect(settled(early)).toBe(false)
    const final = statusOf(scenario, task, request, 'alloc-final.json', job)
    expect(settled(final)).toBe(true)
    expect(final.failure?.cause).toBe(early.failure?.cause as NonNullable<typeof early.failure>['cause'])
    expect(final.tasks.some((t) => t.state === 'running')).toBe(false)
  })

  test('waitForJob answers "change" with the settled status, not the first FAILED', async () => {
    const building = { ...statusOf('unknown-instruction', 'build', noTests, 'alloc-publish-running.json'), status: 'BUILDING' as const, failure: undefined }
    const answers = [statusOf('unknown-instruction', 'build', noTests, 'alloc-publish-running.json'), statusOf('unknown-instruction', 'build')]
    const got = await waitLoop({ id: 'x', until: 'change', timeoutSeconds: 60 }, building, async () => answers.shift() as JobStatus)
    expect(got.status).toBe('FAILED')
    expect(got.tasks.map((t) => t.state)).not.toContain('running')
    expect(answers).toEqual([])
  })
})
