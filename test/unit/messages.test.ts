// Refusals in words: every pattern has a rule a person can follow, unions list what they allow, the CLI names its flags.
import { refusal as refuse } from '../support/refusal'
import { describe, expect, test } from 'bun:test'
import type { TSchema } from '@sinclair/typebox'
import { inFlagWords } from '../../src/cli/flags'
import { jobTable, TaskLines } from '../../src/cli/print'
import { flagNames } from '../../src/cli/request-options'
import { ServiceError } from '../../src/errors'
import { grepMatcher, sliceLines } from '../../src/jobs/logs'
import { JobRequest } from '../../src/jobs/request'
import { ruleOf } from '../../src/jobs/rules'
import { schemaErrors, validateRequest } from '../../src/jobs/validate'
import { mcpTools } from '../../src/mcp/tools'

const ok = { repo: 'https://example.com/acme/app.git', image: 'ghcr.io/acme/app' }
const policy = { allowInsecureGit: false, secretPrefixes: ['nomad:nbs/'], sshHostKeyChecking: true }

const refusal = (input: unknown) => refuse(input, policy)

/** Every `pattern` and `patternProperties` key in a schema, wherever it is nested. */
function patterns(schema: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(schema)) for (const s of schema) patterns(s, out)
  else if (schema && typeof schema === 'object') {
    for (const [k, v] of Object.entries(schema)) {
      if (k === 'pattern' && typeof v === 'string') out.add(v)
      if (k === 'patternProperties') for (const p of Object.keys(v as object)) out.add(p)
      patterns(v, out)
    }
  }
  return out
}

// Both transports' tools: stdio's submitJob takes sourcePath as well.
const tools = [...mcpTools(), ...mcpTools(() => Promise.reject(new Error('not called')))]

const messageFor = (schema: TSchema, value: unknown, field: string) => schemaErrors(schema, value).find((e) => e.field === field)?.message

describe('patterns said as rules', () => {
  test('every pattern of every tool input (the request included) has a rule', () => {
    const all = new Set<string>()
    for (const t of tools) patterns(JSON.parse(JSON.stringify(t.input)), all)
    expect(all.size).toBeGreaterThan(10)
    expect([...all].filter((p) => !ruleOf(p))).toEqual([])
  })

  test('an image with uppercase letters or a tag: the rule, not the regex', () => {
    for (const image of ['ghcr.io/Acme/app', 'ghcr.io/acme/app:v1']) {
      const e = refusal({ ...ok, image })
      expect(e.message).toBe('image: must be a lowercase repository path without a tag, e.g. host:5000/team/app (an optional registry host[:port]/, then lowercase letters, digits, . _ - between slashes); put tags in `tags`')
      expect(e.message).not.toContain('(?:')
    }
  })

  test('a name that is not allowed says what names are', () => {
    expect(refusal({ ...ok, buildArgs: { 'A-B': 'x' } }).message).toContain(
      'buildArgs.A-B: is not an allowed name (it must be a variable name: up to 128 letters, digits and _, not starting with a digit)',
    )
  })

  test('a secret given as a value is told what a reference looks like, and the value is not echoed', () => {
    const e = refusal({ ...ok, secrets: { registry: 'hunter2' } })
    expect(e.message).toContain('secrets.registry: must be a reference, never a value: "nomad:<variable path>" or "vault:<kv path>"')
    expect(e.message).not.toContain('hunter2')
  })
})

describe('unions and enums list what they allow', () => {
  const input = (name: string) => tools.find((t) => t.name === name)?.input as TSchema

  test('waitForJob until', () => {
    expect(messageFor(input('waitForJob'), { id: '20200101-000000-abcdef', until: 'done' }, 'until')).toBe(
      'must be one of change, final (got "done")',
    )
  })

  test('listJobs status', () => {
    expect(messageFor(input('listJobs'), { status: 'DONE' }, 'status')).toBe(
      'must be one of PENDING, BUILDING, TESTING, PUBLISHING, SUCCEEDED, FAILED (got "DONE")',
    )
  })

  test('getLogs phase', () => {
    expect(messageFor(input('getLogs'), { id: '20200101-000000-abcdef', phase: 'tests' }, 'phase')).toBe(
      'must be one of build, test, publish (got "tests")',
    )
  })

  test('test.commands: a string or an array of strings', () => {
    expect(messageFor(JobRequest, { ...ok, test: { commands: [42] } }, 'test.commands[0]')).toBe('must be a string or an array of strings (got a number)')
  })

  test('a job id: both forms are said', () => {
    expect(messageFor(input('getStatus'), { id: 'abc' }, 'id')).toContain('nbs-20261125-123456-a1b2c3 works too')
  })
})

describe('getLogs grep', () => {
  const log = 'STEP 1/2: FROM x\nsome Error: here\nSTEP 2/2: RUN make\nmake: *** [all] Error 2\n'

  test('plain text is a case-insensitive substring; tail counts matching lines', () => {
    expect(sliceLines(log, 0, false, grepMatcher('error')).text).toBe('some Error: here\nmake: *** [all] Error 2\n')
    expect(sliceLines(log, 1, false, grepMatcher('error'))).toEqual({ text: 'make: *** [all] Error 2\n', truncated: true })
  })

  test('/regex/flags is a regular expression', () => {
    expect(sliceLines(log, 0, false, grepMatcher('/^STEP \\d+\\/\\d+: RUN/')).text).toBe('STEP 2/2: RUN make\n')
    expect(sliceLines(log, 0, false, grepMatcher('/^step/i')).text).toBe('STEP 1/2: FROM x\nSTEP 2/2: RUN make\n')
  })

  test('a bad regular expression is refused in words naming grep', () => {
    const e = (() => {
      try {
        grepMatcher('/(unclosed/')
      } catch (e) {
        return e as ServiceError
      }
    })()
    expect(e?.code).toBe('invalid_request')
    expect(e?.field).toBe('grep')
    expect(e?.message).toStartWith('grep: /(unclosed/ is not a valid regular expression: ')
    expect(e?.message).toContain('or plain text for a substring')
  })

  test('a runaway regular expression over a long log stops at its time budget', () => {
    const hostile = `${'a'.repeat(40)}b\n`.repeat(50)
    const started = performance.now()
    expect(() => sliceLines(hostile, 0, false, grepMatcher('/(a+)+$/'))).toThrow('took more than 1 s over this log')
    expect(performance.now() - started).toBeLessThan(5000)
  })
})

describe('the CLI names its own flags', () => {
  const refused = (details: { field: string; message: string }[]) =>
    Promise.reject(new ServiceError('invalid_request', details.map((d) => `${d.field}: ${d.message}`).join('; '), details[0]?.field, details))

  test('a server refusal of query.limit reads --limit', async () => {
    const e = (await inFlagWords({ 'query.limit': '--limit' }, () => refused([{ field: 'query.limit', message: 'expected integer to be less or equal to 500' }])).catch(
      (e: unknown) => e,
    )) as ServiceError
    expect(e.message).toBe('--limit: expected integer to be less or equal to 500')
    expect(e.field).toBe('--limit')
  })

  test('request fields set by flags are named by those flags; fields from the file keep their names', async () => {
    const names = flagNames({ image: 'x', tag: ['a/b'], cpu: 5 })
    const e = (await inFlagWords(names, () =>
      refused([
        { field: 'tags[0]', message: 'must be 1 to 128 letters' },
        { field: 'resources.cpu', message: 'expected integer to be greater or equal to 100' },
        { field: 'ref', message: 'must be a branch' },
      ]),
    ).catch((e: unknown) => e)) as ServiceError
    expect(e.message).toBe('--tag: must be 1 to 128 letters; --cpu: expected integer to be greater or equal to 100; ref: must be a branch')
  })

  test('other errors pass through unchanged', async () => {
    const notFound = new ServiceError('not_found', 'id: no job x', 'id')
    expect(await inFlagWords({ id: '<id>' }, () => Promise.reject(notFound)).catch((e: unknown) => e)).toBe(notFound)
  })
})

describe('CLI output', () => {
  test('nbs list has a header, and columns line up', () => {
    const table = jobTable([
      { id: '20261125-123456-a1b2c3', status: 'FAILED', reason: 'build_failed', createdAt: '2026-11-25T12:34:56.789Z', repo: 'r', image: 'i/a' },
      { id: '20261125-123457-d4e5f6', status: 'SUCCEEDED', createdAt: '2026-11-25T12:34:57.000Z', repo: 'r', image: 'i/b' },
    ]).split('\n')
    expect(table[0]).toMatch(/^ID +STATUS +REASON +CREATED +IMAGE$/)
    expect(table[1]).toMatch(/^20261125-123456-a1b2c3 +FAILED +build_failed +2026-11-25T12:34:56Z +i\/a$/)
    expect(table[2]).toMatch(/^20261125-123457-d4e5f6 +SUCCEEDED +- +2026-11-25T12:34:57Z +i\/b$/)
    expect(table[1]?.indexOf('i/a')).toBe(table[0]?.indexOf('IMAGE'))
    expect(table[2]?.indexOf('i/b')).toBe(table[0]?.indexOf('IMAGE'))
  })

  test('logs --follow: interleaved chunks of parallel tasks become whole lines, each prefixed with its task', () => {
    const lines = new TaskLines()
    const out = [
      lines.push('test-0', 'ok 1\nok'),
      lines.push('test-1', 'fail 1\n'),
      lines.push('test-0', ' 2\n'),
      lines.push('test-1', 'no newline at the end'),
      lines.flush(),
    ].join('')
    expect(out).toBe('test-0  | ok 1\ntest-1  | fail 1\ntest-0  | ok 2\ntest-1  | no newline at the end\n')
  })
})
