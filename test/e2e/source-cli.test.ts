// Building a directory that was never pushed, through the CLI against the dev stack's server:
// `nbs submit DIR` and `nbs upload DIR` + `nbs submit --source ID`, published to the dev registry.
import { beforeAll, describe, expect, test } from 'bun:test'
import { ensureStack, registryDigest, urls } from '../support/dev-stack'
import { sourceChecks, sourceTree } from '../support/source-tree'
import { mainTs } from '../support/surfaces'

beforeAll(ensureStack, 180_000)

const image = `${urls.registry}/e2e/source-cli`

/** `nbs --server <dev server> …` to its end. */
async function nbs(...args: string[]) {
  const child = Bun.spawn([process.execPath, mainTs, '--server', urls.server, ...args], { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' })
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
  return { stdout, stderr, code }
}

const lastJson = (stdout: string) => JSON.parse(stdout.trim().split('\n').pop() as string)

describe('nbs submit DIR', () => {
  test('packs and uploads the directory, then builds it: SUCCEEDED with the symlink kept and the .dockerignored file absent', async () => {
    const tag = `dir-${Date.now()}`
    const r = await nbs('submit', sourceTree(), '--image', image, '--tag', tag, ...sourceChecks.flatMap((c) => ['--test', c]), '--wait', '--json')
    expect(r.stderr).toMatch(/^uploaded [\d.]+ (B|KB|MB) \(sha256:[0-9a-f]{64}\)$/m)
    const final = lastJson(r.stdout)
    expect({ code: r.code, status: final.status, failure: final.failure }).toEqual({ code: 0, status: 'SUCCEEDED', failure: undefined })
    expect(final.request.source).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(await registryDigest(image, tag)).toBe(final.result.digest)
  }, 240_000)

  test('nbs upload prints the id; a build of it sees exactly what was sent (a check for the ignored file fails)', async () => {
    const up = await nbs('upload', sourceTree())
    expect(up.code).toBe(0)
    const source = up.stdout.trim()
    expect(source).toMatch(/^sha256:[0-9a-f]{64}$/)
    const tag = `id-${Date.now()}`
    const r = await nbs('submit', '--source', source, '--image', image, '--tag', tag, '--test', 'test -e /app/secret.env', '--wait', '--json')
    const final = lastJson(r.stdout)
    expect(r.code).toBe(1)
    expect(final.status).toBe('FAILED')
    expect(final.failure.reason).toBe('test_failed')
    expect(await registryDigest(image, tag)).toBeUndefined()
  }, 240_000)
})
