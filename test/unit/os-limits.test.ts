// What Linux lets a process start with, measured on the jobs that the largest accepted requests
// render: every string of a task's environment and arguments, and their total, as Nomad hands
// them to the task, and again as the phase script hands the user's values to Buildah.
import { describe, expect, test } from 'bun:test'
import { loadConfig } from '../../src/config'
import { type RenderConfig, renderJob } from '../../src/jobs/render'
import { type JobRequest, limits } from '../../src/jobs/request'
import type { Job, Task } from '../../src/nomad/types'
import { ServiceError } from '../../src/errors'
import { validateRequest } from '../../src/jobs/validate'

// include/uapi/linux/binfmts.h: one string, with its NUL, at most 32 pages.
const MAX_ARG_STRLEN = 32 * 4096
// fs/exec.c: arguments and environment together at most a quarter of the stack limit (8 MiB by default).
const ARG_MAX = 2 * 1024 * 1024
// What a request may use of each: the rest is margin for what this test cannot see.
const STRING_BUDGET = 0.75 * MAX_ARG_STRLEN
const TOTAL_BUDGET = 0.5 * ARG_MAX
// Nomad's own variables (NOMAD_ALLOC_DIR, …, about 25 of ids and paths) and whatever the node adds: generously.
const NOMAD_OWN_BYTES = 32 * 1024

const policy = { allowInsecureGit: false, secretPrefixes: ['nomad:nbs/', 'vault:kv/data/nbs/'], sshHostKeyChecking: true }
const base = { repo: 'https://git.example.com/acme/app.git', image: 'registry.example.com/acme/app' }
// Three UTF-8 bytes for one character of maxLength, and JSON writes it as is: the most bytes per character.
const wide = '€'
const bytes = (s: string) => Buffer.byteLength(s, 'utf8')
const jsonBytes = (r: unknown) => bytes(JSON.stringify(r))

/** n characters in chunks of at most `max`: the values of a map or list filled from the front. */
const chunks = (n: number, max: number, ch = wide) =>
  Array.from({ length: Math.ceil(n / max) }, (_, i) => ch.repeat(Math.min(max, n - i * max)))
const name128 = (i: number) => `V${String(i).padStart(4, '0')}`.padEnd(128, '_')

/** The largest request `make(n)` builds within the limit (make grows with n, up to its fields' caps): by bisection. */
function largest(make: (n: number) => JobRequest): JobRequest {
  let lo = 0
  let hi = 1
  // The request's whole budget in characters is enough: a fill that never gets over the limit stops at its caps.
  while (hi <= limits.requestBytes && jsonBytes(make(hi)) <= limits.requestBytes) hi *= 2
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2)
    if (jsonBytes(make(mid)) <= limits.requestBytes) lo = mid
    else hi = mid
  }
  return make(lo)
}

// Each fills the budget of one request with what one environment variable carries, at its worst.
const maximal: Record<string, JobRequest> = {
  'test.env values (every test task carries them all)': largest((n) => ({
    ...base,
    test: { commands: ['true'], env: Object.fromEntries(chunks(n, 4096).map((v, i) => [name128(i), v]).slice(0, limits.testEnv)) },
  })),
  'test.env of one-character names and values (the most entries)': largest((n) => ({
    ...base,
    test: { commands: ['true'], env: Object.fromEntries(Array.from({ length: Math.min(n, limits.testEnv) }, (_, i) => [`E${i}`, 'x'])) },
  })),
  'buildArgs values': largest((n) => ({
    ...base,
    buildArgs: Object.fromEntries(chunks(n, 4096).map((v, i) => [name128(i), v]).slice(0, limits.buildArgs)),
  })),
  'shell commands (the request holds them all)': largest((n) => ({ ...base, test: { commands: chunks(n, 8192).slice(0, limits.testCommands) } })),
  'one exec-form command of many one-character arguments': largest((n) => ({
    ...base,
    test: { commands: [Array.from({ length: Math.min(n, 256) }, () => 'x')] },
  })),
  'exec-form commands of empty arguments': largest((n) => ({
    ...base,
    test: { commands: chunks(n, 256, '.').slice(0, limits.testCommands).map((c) => [...c].map(() => '')) },
  })),
  'exec-form arguments at their longest': largest((n) => ({
    ...base,
    test: { commands: chunks(n, 8192).slice(0, limits.testCommands).map((a) => [a]) },
  })),
  'every short field at its longest, every tag and secret': {
    ...base,
    repo: `https://git.example.com/${'a'.repeat(2048 - 24)}`,
    ref: 'r'.repeat(255),
    context: 'c'.repeat(1024),
    dockerfile: 'd'.repeat(1024),
    target: 't'.repeat(128),
    image: `registry.example.com/${'i'.repeat(255 - 21)}`,
    tags: Array.from({ length: limits.tags }, (_, i) => `${i}`.padEnd(128, 't')),
    secrets: {
      gitSsh: `vault:kv/data/nbs/${'k'.repeat(490)}`,
      gitKnownHosts: `vault:kv/data/nbs/${'h'.repeat(490)}`,
      registry: `vault:kv/data/nbs/${'r'.repeat(490)}`,
      build: Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`${i}`.padEnd(64, 's'), `vault:kv/data/nbs/${'b'.repeat(490)}`])),
    },
    test: { commands: ['true'], entrypoint: true, gpus: { count: limits.gpus, vendor: 'v'.repeat(32), model: 'M'.repeat(64) } },
  },
}

/** The task's environment as Nomad builds it: its Env, each Meta entry under up to four spellings of its key (nomadlite/taskenv.go, after Nomad's taskenv). */
function environment(job: Job, task: Task): string[] {
  const env = Object.entries(task.Env ?? {}).map(([k, v]) => `${k}=${v}`)
  for (const [k, v] of Object.entries(job.Meta ?? {})) {
    const clean = (s: string) => s.replace(/[^A-Za-z0-9_]/g, '_')
    for (const name of new Set([k, k.toUpperCase(), clean(k), clean(k.toUpperCase())])) env.push(`NOMAD_META_${name}=${v}`)
  }
  return env
}

const argv = (task: Task): string[] => [String(task.Config.command), ...((task.Config.args as string[] | undefined) ?? [])]

const decode = (list: string | undefined) =>
  (list ?? '').split(' ').filter(Boolean).map((a) => (a === '-' ? '' : Buffer.from(a, 'base64').toString('utf8')))

/** What the phase script passes to Buildah besides its own flags: the user's values, decoded. */
function buildahArgs(task: Task): string[] {
  const env = task.Env ?? {}
  if (task.Name === 'build') return decode(env.NBS_B64_BUILD_ARGS)
  if (task.Name.startsWith('test-')) return [...decode(env.NBS_B64_TEST_ENV), ...decode(env.NBS_B64_ARGV), ...decode(env.NBS_B64_COMMAND)]
  return decode(env.NBS_B64_DESTS)
}

/** Bytes execve copies for these strings: each with its NUL, and a pointer to each. */
const execBytes = (strings: string[]) => strings.reduce((sum, s) => sum + bytes(s) + 1 + 8, 0)

const configs: Record<string, RenderConfig> = {
  raw_exec: { ...loadConfig({}), profile: 'raw_exec' },
  docker: { ...loadConfig({}), profile: 'docker' },
}

describe('a task starts whatever the request, within its limits', () => {
  const worst = { string: 0, total: 0 }

  for (const [what, request] of Object.entries(maximal))
    for (const [profile, config] of Object.entries(configs))
      test(`${what} (${profile})`, () => {
        expect(validateRequest(request, policy)).toBe(request)
        const job = renderJob({ id: '20261125-120000-abcdef', request, createdAt: new Date(), owner: 'o'.repeat(63) }, config)
        for (const task of job.TaskGroups[0]!.Tasks) {
          const env = environment(job, task)
          // The task itself, then the phase script's exec of Buildah: the same environment, the user's values as arguments.
          for (const strings of [[...argv(task), ...env], [...env, ...buildahArgs(task)]]) {
            const longest = Math.max(...strings.map(bytes)) + 1
            const total = execBytes(strings) + NOMAD_OWN_BYTES
            worst.string = Math.max(worst.string, longest)
            worst.total = Math.max(worst.total, total)
            expect({ task: task.Name, longest, fits: longest <= STRING_BUDGET }).toMatchObject({ fits: true })
            expect({ task: task.Name, total, fits: total <= TOTAL_BUDGET }).toMatchObject({ fits: true })
          }
        }
      })

  test('each construction is the largest its fields allow: full, or one character more is over the limit', () => {
    for (const [what, request] of Object.entries(maximal)) {
      const size = jsonBytes(request)
      expect({ what, size, within: size <= limits.requestBytes }).toMatchObject({ within: true })
    }
    // The budget-filling ones reach the limit to within one chunk's last character.
    for (const what of ['test.env values (every test task carries them all)', 'buildArgs values', 'shell commands (the request holds them all)'])
      expect(jsonBytes(maximal[what]!)).toBeGreaterThan(limits.requestBytes - 16)
  })

  test('the worst case, for the record', () => {
    // Said here so that a change of limits shows what it costs (see limits.requestBytes).
    console.log(`worst string ${(worst.string / 1024).toFixed(1)} KiB of ${MAX_ARG_STRLEN / 1024}; worst total ${(worst.total / 1024).toFixed(1)} KiB of ${ARG_MAX / 1024}`)
    expect(worst.string).toBeGreaterThan(limits.requestBytes)
  })
})

describe('the request as a whole is bounded', () => {
  test("the issue's case, 32 test.env values of 4 KiB, is refused naming test.env and the sizes", () => {
    const env = Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`V${i}`, 'x'.repeat(4096)]))
    const e = (() => {
      try {
        validateRequest({ ...base, test: { commands: ['true'], env } }, policy)
      } catch (x) {
        return x as ServiceError
      }
      throw new Error('accepted')
    })()
    expect(e.field).toBe('test.env')
    expect(e.message).toContain(`over the ${limits.requestBytes} a build can carry`)
    expect(e.message).toContain('its largest part is test.env')
  })

  test('one byte over the limit is refused; at the limit it passes', () => {
    const bulk = { ...base, buildArgs: Object.fromEntries(chunks(limits.requestBytes - 400, 4096, 'x').map((v, i) => [`A${i}`, v])) }
    // "ref":"…", adds 9 bytes of JSON around the ref itself, which is one byte a character.
    const room = limits.requestBytes - jsonBytes(bulk) - 9
    expect(room).toBeGreaterThan(0)
    expect(jsonBytes({ ...bulk, ref: 'r'.repeat(room) })).toBe(limits.requestBytes)
    expect(() => validateRequest({ ...bulk, ref: 'r'.repeat(room) }, policy)).not.toThrow()
    expect(() => validateRequest({ ...bulk, ref: 'r'.repeat(room + 1) }, policy)).toThrow('its largest part is buildArgs')
  })

  test('names are capped too: a variable name of 129 characters is refused', () => {
    expect(() => validateRequest({ ...base, buildArgs: { [`A${'b'.repeat(128)}`]: '1' } }, policy)).toThrow('up to 128 letters')
  })
})
