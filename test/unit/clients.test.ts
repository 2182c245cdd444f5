import { describe, expect, test } from 'bun:test'
import { ServiceError } from '../../src/errors'
import { Clients, newClient } from '../../src/service/clients'

const a = newClient('team-a', ['nomad:nbs/team-a/'])
const b = newClient('team-b', [])
const clients = Clients.parse({ clients: [a.entry, b.entry] })

const refusal = (header: string | undefined) => {
  try {
    clients.authenticate(header)
  } catch (e) {
    return e as ServiceError
  }
  throw new Error('accepted')
}

describe('client tokens', () => {
  test('a known token names its client and its secret prefixes', () => {
    expect(clients.authenticate(`Bearer ${a.token}`)).toEqual({ owner: 'team-a', secretPrefixes: ['nomad:nbs/team-a/'] })
    expect(clients.authenticate(`Bearer ${b.token}`).owner).toBe('team-b')
  })

  test('the stored entry holds a hash, never the token', () => {
    expect(JSON.stringify(a.entry)).not.toContain(a.token)
    expect(a.entry.tokenSha256).toMatch(/^[0-9a-f]{64}$/)
  })

  test.each([
    ['no header', undefined, 'required'],
    ['another scheme', `Basic ${a.token}`, 'required'],
    ['a wrong token', 'Bearer nbs_wrong', 'not valid'],
    ['a token with one character changed', `Bearer ${a.token.slice(0, -1)}${a.token.endsWith('A') ? 'B' : 'A'}`, 'not valid'],
  ])('%s is unauthorized', (_, header, words) => {
    const e = refusal(header)
    expect(e.code).toBe('unauthorized')
    expect(e.status).toBe(401)
    expect(e.message).toContain(words)
  })

  test('a malformed clients file is refused naming the field', () => {
    expect(() => Clients.parse({ clients: [{ name: 'x', tokenSha256: 'short', secretPrefixes: [] }] })).toThrow(/clients\[0\]\.tokenSha256/)
  })
})

test('`nbs client new` prints a token and an entry that admits exactly that token', () => {
  const r = Bun.spawnSync([process.execPath, `${import.meta.dir}/../../src/cli/main.ts`, 'client', 'new', 'team-c', '--secret-prefix', 'nomad:nbs/team-c/'])
  expect(r.exitCode).toBe(0)
  const out = r.stdout.toString()
  const token = /token[^:]*: (\S+)/.exec(out)?.[1] ?? ''
  const entry = JSON.parse(out.slice(out.indexOf('{')))
  expect(JSON.stringify(entry)).not.toContain(token)
  const cs = Clients.parse({ clients: [entry] })
  expect(cs.authenticate(`Bearer ${token}`)).toEqual({ owner: 'team-c', secretPrefixes: ['nomad:nbs/team-c/'] })
})
