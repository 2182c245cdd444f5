// Build records fit in one Nomad Variable (Nomad refuses one over 64 KiB) and keep what matters most.
import { describe, expect, test } from 'bun:test'
import { Value } from '@sinclair/typebox/value'
import type { JobStatus } from '../../src/jobs/status-schema'
import { BuildRecord, encodeRecord } from '../../src/service/records'

const status: JobStatus = {
  id: '20261201-120000-abcdef',
  status: 'FAILED',
  createdAt: '2026-12-01T12:00:00.000Z',
  finishedAt: '2026-12-01T12:01:00.000Z',
  tasks: [{ task: 'build', phase: 'build', state: 'failed', exitCode: 1 }],
  failure: {
    reason: 'build_failed',
    phase: 'build',
    message: 'the build failed with exit code 1',
    cause: 'dockerfile_invalid',
    summary: 'step 2/2: unknown instruction RUNN in "RUNN make"',
    hint: 'did you mean RUN?',
    step: { index: 2, total: 2, instruction: 'RUNN make' },
    exitCode: 125,
    logTail: 'Error: boom\n',
  },
  request: { repo: 'git://127.0.0.1:9418/x', image: '127.0.0.1:5000/x', test: { commands: ['true'], env: { BIG: 'v'.repeat(100_000) } } },
}
const log = (task: string, kb: number) => ({ task, phase: 'test' as const, state: 'failed', text: `${'line\n'.repeat(kb * 205)}the last line\n`, truncated: false })

describe('encodeRecord', () => {
  test('a small record is kept whole', () => {
    const small = { status: { ...status, request: { repo: 'git://h/x', image: 'h/x' } }, logs: [log('build', 1)] }
    expect(JSON.parse(encodeRecord(small))).toEqual(small)
  })

  test('a large one stays under 48 KiB, ends of logs kept and marked truncated, and still reads as a record', () => {
    const big = { status: { ...status, request: { repo: 'git://h/x', image: 'h/x' } }, logs: Array.from({ length: 20 }, (_, i) => log(`test-${i}`, 8)) }
    const json = encodeRecord(big)
    expect(Buffer.byteLength(json)).toBeLessThanOrEqual(48 * 1024)
    const back = JSON.parse(json)
    expect(Value.Check(BuildRecord, back)).toBe(true)
    for (const l of back.logs) {
      expect(l.truncated).toBe(true)
      expect(l.text.endsWith('the last line\n')).toBe(true)
      expect(l.text.startsWith('line\n') || l.text.startsWith('the last')).toBe(true)
    }
  })

  test('a request too large for any record keeps what names the build; the verdict is intact', () => {
    const json = encodeRecord({ status, logs: [log('build', 4)] })
    expect(Buffer.byteLength(json)).toBeLessThanOrEqual(48 * 1024)
    const back = JSON.parse(json)
    expect(Value.Check(BuildRecord, back)).toBe(true)
    expect(back.status.request).toEqual({ repo: status.request.repo, image: status.request.image })
    expect(back.status.status).toBe('FAILED')
    expect(back.status.failure.reason).toBe('build_failed')
    const { logTail: _, ...cause } = status.failure!
    expect(back.status.failure).toEqual(cause)
  })
})
