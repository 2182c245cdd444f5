// A repository cannot build the node's files into its image: the context and the Dockerfile are
// resolved inside the clone, symlinks included, before Buildah sees them.
import { beforeAll, describe, expect, test } from 'bun:test'
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { publishRepo } from '../../src/dev/repos'
import { busyboxDockerfile, ensureStack, registryDigest, service, stack, urls } from '../support/dev-stack'

beforeAll(ensureStack, 180_000)

const image = `${urls.registry}/e2e/path-safety`

/** A repo made of `files` and `links` (path → target, committed as symlinks). */
async function repoWith(files: Record<string, string>, links: Record<string, string>): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'nbs-evil-'))
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true })
    writeFileSync(join(dir, path), text)
  }
  for (const [path, target] of Object.entries(links)) {
    mkdirSync(join(dir, path, '..'), { recursive: true })
    symlinkSync(target, join(dir, path))
  }
  const name = `evil-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`
  await publishRepo(stack.paths.git, name, dir)
  return `${urls.git}/${name}`
}

const evil = busyboxDockerfile('COPY etc/shadow /stolen')

describe('paths that leave the clone', () => {
  test.each([
    ['a context that is a symlink to /', { files: {}, links: { ctx: '/' } }, { context: 'ctx', dockerfile: 'proc/self/cwd/Dockerfile.evil' }, 'context ctx leaves the repository'],
    ['a Dockerfile that is a symlink out of the repo', { files: {}, links: { Dockerfile: '/etc/hostname' } }, {}, 'dockerfile Dockerfile (in .) leaves the repository'],
    ['a Dockerfile reached through a directory symlink', { files: {}, links: { sys: '/etc' } }, { dockerfile: 'sys/hostname' }, 'dockerfile sys/hostname (in .) leaves the repository'],
    ['a nested context through a relative symlink that climbs out', { files: { 'a/keep': '' }, links: { 'a/up': '../../../../../../../..' } }, { context: 'a/up' }, 'context a/up leaves the repository'],
  ])('%s: FAILED build_failed naming the path; nothing pushed', async (_, layout, fields, words) => {
    const repo = await repoWith({ 'Dockerfile.evil': evil, ...layout.files }, layout.links)
    const tag = `evil-${Date.now()}`
    const sub = await service.submitJob({ repo, image, tags: [tag], ...fields })
    const st = await service.waitForJob({ id: sub.id, until: 'final', timeoutSeconds: 120 })
    expect(st.status).toBe('FAILED')
    expect(st.failure?.reason).toBe('build_failed')
    expect(st.failure?.logTail).toContain(words)
    expect(await registryDigest(image, tag)).toBeUndefined()
  }, 150_000)

  test('a symlink that stays inside the repository is followed as usual', async () => {
    const repo = await repoWith({ 'docker/Containerfile.real': busyboxDockerfile('RUN echo inside > /inside') }, { Dockerfile: 'docker/Containerfile.real' })
    const sub = await service.submitJob({ repo, image })
    const st = await service.waitForJob({ id: sub.id, until: 'final', timeoutSeconds: 120 })
    expect(st.status).toBe('SUCCEEDED')
  }, 150_000)
})
