// The CLI's own words: where it cannot reach a server, which flag it means, what it takes.
import { describe, expect, test } from 'bun:test'
import { HttpBuildApi } from '../../src/cli/http-client'
import { ServiceError } from '../../src/errors'

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
