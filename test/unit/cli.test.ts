// The CLI's own words: where it cannot reach a server, which flag it means, what it takes.
import { describe, expect, test } from 'bun:test'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { Command } from 'commander'
import { HttpBuildApi } from '../../src/cli/http-client'
import { registerJobCommands } from '../../src/cli/jobs-commands'
import { usageLineAfterErrors } from '../../src/cli/usage'
import { ServiceError } from '../../src/errors'
import { validateRequest } from '../../src/jobs/validate'
import type { BuildApi } from '../../src/service/api'

/** `nbs` with the job commands against a fake service that records what it is asked; errors are thrown, not exits. */
function nbs(api: Partial<BuildApi> = {}) {
  const err: string[] = []
  const program = new Command('nbs').exitOverride().configureOutput({ writeOut: () => {}, writeErr: (s) => err.push(s) })
  registerJobCommands(program, () => api as BuildApi)
  const run = (...args: string[]) => program.parseAsync(args, { from: 'user' })
  return { program, run, err: () => err.join('') }
}

/** A port on 127.0.0.1 that nothing listens on: taken, then given back. */
async function closedPort(): Promise<number> {
  const s = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response() })
  const port = s.port as number
  await s.stop(true)
  return port
}

describe('no server', () => {
  test('the hint names the dev stack\'s env as well as NBS_SERVER and --server', async () => {
    const api = new HttpBuildApi(`http://127.0.0.1:${await closedPort()}`)
    const e = (await api.getStatus('20200101-000000-abcdef').catch((x: unknown) => x)) as ServiceError
    expect(e).toBeInstanceOf(ServiceError)
    expect(e.code).toBe('server_unavailable')
    expect(e.message).toContain('cannot reach the server at http://127.0.0.1:')
    expect(e.message).toContain('eval "$(nbs dev env)"')
    expect(e.message).toContain('NBS_SERVER')
    expect(e.message).toContain('--server URL')
  })
})

describe('enum options', () => {
  test('--status and --phase take any case and pass the canonical value', async () => {
    const asked: unknown[] = []
    const cli = nbs({
      listJobs: async (q) => (asked.push(q), { jobs: [] }),
      getLogs: async (q) => (asked.push(q), { id: q.id, logs: [] }) as never,
    })
    const log = console.log
    console.log = () => {}
    try {
      await cli.run('list', '--status', 'failed')
      await cli.run('list', '--status', 'Succeeded')
      await cli.run('logs', '20200101-000000-abcdef', '--phase', 'TEST')
    } finally {
      console.log = log
    }
    expect(asked).toMatchObject([{ status: 'FAILED' }, { status: 'SUCCEEDED' }, { phase: 'test' }])
  })

  test('a value of no case is still refused, listing the choices', async () => {
    const cli = nbs()
    await expect(cli.run('list', '--status', 'broken')).rejects.toThrow("option '--status <status>' argument 'broken' is invalid. Allowed choices are PENDING")
  })
})

describe('usage errors', () => {
  test('an unknown flag: the error, the usage line of that command, and where its help is', async () => {
    const cli = nbs()
    usageLineAfterErrors(cli.program)
    await expect(cli.run('list', '--bogus')).rejects.toThrow("unknown option '--bogus'")
    expect(cli.err()).toBe("error: unknown option '--bogus'\nusage: nbs list [options]\n(see nbs list --help)\n")
  })

  test('nbs itself says so: no screen of options (a real process; it stops before any server is asked)', () => {
    const mainTs = resolve(import.meta.dir, '../../src/cli/main.ts')
    const r = Bun.spawnSync([process.execPath, mainTs, 'status'], { env: { ...process.env, NBS_SERVER: 'http://127.0.0.1:9' } })
    expect(r.exitCode).toBe(1)
    expect(r.stderr.toString()).toBe("error: missing required argument 'id'\nusage: nbs status [options] <id>\n(see nbs status --help)\n")
  })
})

describe('refusals name the flags', () => {
  // The service's own validation, as the server would answer it.
  const policy = { allowInsecureGit: false, secretPrefixes: [], sshHostKeyChecking: true }
  const submit = async (...args: string[]) => {
    const cli = nbs({ submitJob: async (input) => (validateRequest(input, policy), Promise.reject(new Error('not reached'))) })
    const e = (await cli.run('submit', ...args).catch((x: unknown) => x)) as ServiceError
    expect(e).toBeInstanceOf(ServiceError)
    return e
  }
  const image = ['--image', '127.0.0.1:5000/team/app']

  test('a required field no flag or file gave is named by its flag: --repo, not repo', async () => {
    const e = await submit(...image)
    expect(e.message).toStartWith('--repo: is required')
    expect(e.field).toBe('--repo')
  })

  test('a field a flag set is named by the flag; one the file set keeps its name', async () => {
    expect((await submit(...image, '--repo', 'file:///etc')).message).toStartWith('--repo: scheme file:// is not allowed')
    const file = join(mkdtempSync(join(tmpdir(), 'nbs-cli-')), 'nbs.yaml')
    writeFileSync(file, 'repo: file:///etc\n')
    expect((await submit('-f', file, ...image)).message).toStartWith('repo: scheme file:// is not allowed')
  })
})
