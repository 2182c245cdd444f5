// `nbs dev up` brings the server up as one more component, ready when /readyz answers.
import { afterAll, describe, expect, test } from 'bun:test'
import { devStack, devStatus, devUp, devUrls, serverComponent } from '../../src/dev/stack'
import { runningPid, stopDaemon } from '../../src/dev/process'
import { freePort } from '../support/surfaces'

const base = devStack()
// A dev server someone already runs (on the default port) is left alone; otherwise one is started on a free port and stopped.
const preexisting = runningPid(base.paths.state, 'server')
let started = false

afterAll(async () => {
  if (started) await stopDaemon(base.paths.state, 'server')
})

describe('dev stack server component', () => {
  test('devUp with the server component: ready, answering the REST API', async () => {
    const s = preexisting ? base : { ...base, ports: { ...base.ports, server: await freePort() } }
    await devUp(s, () => {}, [serverComponent()])
    started = !preexisting
    const rows = await devStatus(s, [serverComponent()])
    expect(rows.map((r) => r.name)).toEqual(['nomad', 'registry', 'git', 'server'])
    expect(rows.every((r) => r.ready)).toBe(true)
    const res = await fetch(`${devUrls(s).server}/v1/jobs?limit=1`)
    expect(res.status).toBe(200)
    if (started) {
      expect(await stopDaemon(s.paths.state, 'server')).toBe(true)
      started = false
      expect((await devStatus(s, [serverComponent()])).find((r) => r.name === 'server')?.ready).toBe(false)
    }
  }, 180_000)
})
