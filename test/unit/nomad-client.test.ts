// The Nomad client's bound on its connections: a Nomad agent answers 429 past
// http_max_conns_per_client (100 by default) concurrent connections from one IP.
import { afterEach, describe, expect, test } from 'bun:test'
import { MAX_SHORT_REQUESTS, NomadClient } from '../../src/nomad/client'

const servers: { stop(force?: boolean): void }[] = []
afterEach(() => {
  for (const s of servers.splice(0)) s.stop(true)
})

/** A fake agent that counts the requests it holds at once; a blocking query waits for `release`. */
function fakeAgent() {
  let inFlight = 0
  let most = 0
  let release = () => {}
  const released = new Promise<void>((r) => {
    release = r
  })
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(req) {
      inFlight++
      most = Math.max(most, inFlight)
      try {
        if (new URL(req.url).searchParams.has('index')) await released
        else await Bun.sleep(10)
        return Response.json([], { headers: { 'X-Nomad-Index': '7' } })
      } finally {
        inFlight--
      }
    },
  })
  servers.push(server)
  return { client: new NomadClient({ address: `http://127.0.0.1:${server.port}` }), most: () => most, inFlight: () => inFlight, release }
}

describe('NomadClient connections', () => {
  test(`short requests: at most ${MAX_SHORT_REQUESTS} in flight however many are asked at once, and every one answered`, async () => {
    const agent = fakeAgent()
    const answers = await Promise.all(Array.from({ length: 150 }, () => agent.client.read<unknown[]>('/v1/jobs')))
    expect(answers.map((a) => a.meta.lastIndex)).toEqual(Array(150).fill(7))
    expect(agent.most()).toBeGreaterThan(1)
    expect(agent.most()).toBeLessThanOrEqual(MAX_SHORT_REQUESTS)
  })

  test('blocking queries take no slot: with more of them waiting than there are slots, a short read is still answered', async () => {
    const agent = fakeAgent()
    const waiting = Array.from({ length: MAX_SHORT_REQUESTS + 8 }, () => agent.client.read('/v1/job/j/allocations', { waitIndex: 5, waitTime: '5s' }))
    while (agent.inFlight() < MAX_SHORT_REQUESTS + 8) await Bun.sleep(5)
    expect((await agent.client.read<unknown[]>('/v1/jobs')).data).toEqual([])
    agent.release()
    expect((await Promise.all(waiting)).length).toBe(MAX_SHORT_REQUESTS + 8)
  })
})
