// An upload the node cannot fetch: its replica stopped before the fetch, or its file gone from the
// spool (expired and evicted). Either build is FAILED infrastructure, source_unavailable, in words.
import { beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp } from '../../src/http/app'
import { BuildService } from '../../src/service/build-service'
import { config, ensureStack, nomad, urls } from '../support/dev-stack'
import { freePort } from '../support/surfaces'
import { tarball } from '../support/tarball'

beforeAll(ensureStack, 180_000)

/** A replica of its own: a service whose spool and advertised URL are this port's. */
async function replica() {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const dir = mkdtempSync(join(tmpdir(), 'nbs-spool-'))
  const service = new BuildService(nomad, { ...config, sources: { ...config.sources, dir, advertiseUrl: url } })
  const app = createApp(service).listen({ hostname: '127.0.0.1', port })
  return { service, dir, stop: () => app.stop(true) }
}

const request = (source: string) => ({ source, image: `${urls.registry}/e2e/source-lost`, test: { commands: ['true'] } })
const upload = async (s: BuildService) =>
  s.uploadSource(new Blob([await tarball([{ name: 'Dockerfile', text: `FROM scratch\n# ${Date.now()} ${Math.random()}\n` }])]))

describe('an upload the node cannot fetch', () => {
  test.each([
    ['its replica stopped before the fetch', 'connection refused'],
    ['its file gone from the spool', 'bad response code: 404'],
  ] as const)('%s: FAILED infrastructure, source_unavailable, saying to upload again and resubmit', async (how, words) => {
    const a = await replica()
    const b = await replica()
    const { source } = await upload(a.service)
    if (how === 'its replica stopped before the fetch') await a.stop()
    else rmSync(join(a.dir, source.slice('sha256:'.length)))
    // Another replica renders the build: the upload's entry names the one that holds it.
    const { id } = await b.service.submitJob(request(source))
    const st = await b.service.waitForJob({ id, until: 'final', timeoutSeconds: 120 })
    expect(st.status).toBe('FAILED')
    expect(st.failure).toMatchObject({ reason: 'infrastructure', phase: 'build', cause: 'source_unavailable' })
    expect(st.failure?.message).toContain(words)
    expect(st.failure?.message).toContain(source.slice('sha256:'.length))
    expect(st.failure?.message).toContain('upload the directory again and resubmit')
    await a.stop()
    await b.stop()
  }, 180_000)
})
