// The CLI in its own words against a server on the dev stack: flags named as typed, allowed values listed,
// a header on list, the next commands after submit, followed logs prefixed with their task, Nomad job ids taken.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { busyboxDockerfile, gitRepo, urls } from '../support/dev-stack'
import { ensureStack, listenInProcess, mainTs, newJobsFor, nomadJobIds, projectDir } from '../support/surfaces'

let server: ReturnType<typeof listenInProcess>

beforeAll(async () => {
  await ensureStack()
  server = listenInProcess()
}, 120_000)

afterAll(() => server?.stop())

async function nbs(...args: string[]) {
  const p = Bun.spawn([process.execPath, mainTs, ...args], {
    cwd: projectDir,
    env: { ...process.env, NBS_SERVER: server.url },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const [stdout, stderr, status] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited])
  return { stdout, stderr, status }
}

const image = `${urls.registry}/test/cli-words`
const repo = ['--repo', `${urls.git}/hello-world`, '--image', image]

describe('nbs says what it wants, naming its flags', () => {
  test('--status lists the job states', async () => {
    const r = await nbs('list', '--status', 'DONE')
    expect(r.status).not.toBe(0)
    expect(r.stderr).toContain("option '--status <status>' argument 'DONE' is invalid. Allowed choices are PENDING, BUILDING, TESTING, PUBLISHING, SUCCEEDED, FAILED.")
  })

  test('--phase lists the phases', async () => {
    const r = await nbs('logs', '20200101-000000-abcdef', '--phase', 'tests')
    expect(r.stderr).toContain("option '--phase <phase>' argument 'tests' is invalid. Allowed choices are build, test, publish.")
  })

  test('--cpu abc names --cpu', async () => {
    const r = await nbs('submit', ...repo, '--cpu', 'abc')
    expect(r.status).not.toBe(0)
    expect(r.stderr).toContain("option '--cpu <mhz>' argument 'abc' is invalid. expected a whole number.")
  })

  test("the server's refusals come back with the flags' names, not query or request fields", async () => {
    const before = await nomadJobIds()
    const limit = await nbs('list', '--limit', '100000')
    expect(limit.status).toBe(2)
    expect(limit.stderr).toStartWith('nbs: --limit: expected number to be less or equal to 500')
    expect(limit.stderr).not.toContain('query.')
    const submit = await nbs('submit', ...repo, '--tag', 'a/b', '--cpu', '5')
    expect(submit.status).toBe(2)
    expect(submit.stderr).toContain('--tag: must be 1 to 128 letters, digits, _ . or -')
    expect(submit.stderr).toContain('--cpu: expected integer to be greater or equal to 100')
    expect(submit.stderr).not.toContain('resources.cpu')
    const id = await nbs('status', 'abc')
    expect(id.stderr).toContain('nbs: <id>: must be a job id as submitJob returned it')
    expect(await newJobsFor(before, image)).toEqual([])
  })

  test('cleanup without saying which jobs is refused naming the flags', async () => {
    const r = await nbs('cleanup')
    expect(r.status).toBe(2)
    expect(r.stderr).toBe('nbs: cleanup: say which finished jobs to remove: a job id, --older-than SECONDS, or --all\n')
  })
})

describe('nbs output', () => {
  test('submit prints the next commands; logs --follow prefixes each line with its task; wait and status take the Nomad job id', async () => {
    const submitted = await nbs('submit', ...repo, '--test', 'echo one; echo two', '--test', 'echo three')
    expect(submitted.status).toBe(0)
    const id = /^submitted (\S+) \(PENDING\)/.exec(submitted.stdout)?.[1] as string
    expect(id).toMatch(/^\d{8}-\d{6}-[0-9a-f]{6}$/)
    expect(submitted.stdout).toContain(`next:\n  nbs wait ${id}`)
    expect(submitted.stdout).toContain(`  nbs logs ${id} --follow`)
    expect(submitted.stdout).toContain(`  nbs status ${id}`)

    const followed = await nbs('logs', id, '--follow')
    expect(followed.status).toBe(0)
    const lines = followed.stdout.trimEnd().split('\n')
    expect(lines.every((l) => /^(build  |test-0 |test-1 |publish) \| /.test(l))).toBe(true)
    expect(lines).toContain('test-0  | one')
    expect(lines).toContain('test-0  | two')
    expect(lines).toContain('test-1  | three')
    expect(lines).toContain(`build   | ==> nbs: built localhost/nbs-cache/run-${id}:latest`)

    const waited = await nbs('wait', `nbs-${id}`)
    expect(waited.stdout).toContain(`job ${id}: SUCCEEDED`)
    expect(waited.status).toBe(0)
    expect((await nbs('status', `nbs-${id}`)).stdout).toContain(`job ${id}: SUCCEEDED`)

    const listed = await nbs('list', '--limit', '5')
    expect(listed.stdout.split('\n')[0]).toMatch(/^ID +STATUS +REASON +CREATED +IMAGE$/)
    expect(listed.stdout).toMatch(new RegExp(`^${id} +SUCCEEDED +- `, 'm'))
  }, 120_000)
})

describe('a failed build in the CLI', () => {
  test('submit --wait on a Dockerfile typo: the cause, its step and a hint, and no task still running; status --json carries the same failure', async () => {
    const typo = await gitRepo('cli-typo', { Dockerfile: busyboxDockerfile('RUNN echo hi') })
    const r = await nbs('submit', '--repo', typo, '--image', image, '--wait')
    expect(r.status).toBe(1)
    const display = r.stdout.slice(r.stdout.indexOf('job '))
    expect(display).toContain('failed: build_failed in build: step 4/4: unknown instruction RUNN in "RUNN echo hi"')
    expect(display).toContain('  cause: dockerfile_invalid')
    expect(display).toContain('  failing step 4/4 (Dockerfile line 4): RUNN echo hi (exit code 125)')
    expect(display).toContain('  hint: did you mean RUN?')
    expect(display).toMatch(/^ {2}publish +skipped/m)
    expect(display).not.toMatch(/running|still ending/)
    const id = /^job (\S+): FAILED$/m.exec(display)?.[1] as string
    const status = JSON.parse((await nbs('status', id, '--json')).stdout)
    expect(status.failure).toMatchObject({
      reason: 'build_failed',
      cause: 'dockerfile_invalid',
      step: { index: 4, total: 4, instruction: 'RUNN echo hi', line: 4 },
      exitCode: 125,
      hint: 'did you mean RUN?',
    })
  }, 180_000)
})
