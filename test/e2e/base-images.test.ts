// The base images the dev stack offers offline: the registry serves both references, a build
// FROM each of them (examples/debian-slim for Debian) goes through build → test → publish, and
// `nbs dev status` lists them.
import { beforeAll, describe, expect, test } from 'bun:test'
import { resolve } from 'node:path'
import { requestFromFlags } from '../../src/cli/request-options'
import { baseImages, baseRef, baseTags } from '../../src/dev/base-images'
import { devAddresses } from '../../src/dev/paths'
import { ensureStack, gitRepo, registryDigest, service, stack, urls } from '../support/dev-stack'

// Longer than other files' 180 s: on a machine that has never built the Debian image, this
// dev up builds it (about two minutes measured here; make test-bun's own dev up does it first).
beforeAll(ensureStack, 400_000)

const [busybox, debian] = ['library/busybox', 'library/debian'].map((r) => baseImages.find((i) => i.repository === r)!)
const refs = { busybox: baseRef(urls.registry, busybox!), debian: baseRef(urls.registry, debian!) }
const image = `${urls.registry}/e2e/base-images`

async function skopeoInspect(ref: string): Promise<{ Digest: string; Os: string; Layers: string[] }> {
  return skopeo(['inspect', '--tls-verify=false', `docker://${ref}`])
}

/** The image's config: its layers' uncompressed digests, the same whoever compressed them for the registry. */
const diffIds = async (ref: string) => (await skopeo<{ rootfs: { diff_ids: string[] } }>(['inspect', '--config', '--tls-verify=false', `docker://${ref}`])).rootfs.diff_ids

async function skopeo<T>(args: string[]): Promise<T> {
  const p = Bun.spawn(['skopeo', ...args], { stdout: 'pipe', stderr: 'pipe' })
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited])
  if (code !== 0) throw new Error(`skopeo ${args.join(' ')}: ${err.trim()}`)
  return JSON.parse(out)
}

describe('base images on the dev stack', () => {
  test('the registry serves library/busybox and library/debian:bookworm-slim, each the current definition', async () => {
    expect(refs).toEqual({ busybox: `${urls.registry}/library/busybox:latest`, debian: `${urls.registry}/library/debian:bookworm-slim` })
    for (const [ref, base] of [[refs.busybox, busybox!], [refs.debian, debian!]] as const) {
      const inspected = await skopeoInspect(ref)
      expect(inspected.Os).toBe('linux')
      expect(inspected.Layers).toHaveLength(1)
      // The usual tag names the image of this definition, the one its pinned tag holds.
      expect(await registryDigest(`${urls.registry}/${base.repository}`, baseTags(base).pinned)).toBe(inspected.Digest)
    }
  })

  test('builds FROM each base succeed: examples/debian-slim as its nbs.yaml asks, on bookworm and slim; one on busybox with its applets', async () => {
    const example = requestFromFlags({ file: resolve(import.meta.dir, '../../examples/debian-slim/nbs.yaml') }, { ...process.env, ...devAddresses(stack.ports) })
    const exampleTests = (example.test as { commands: string[] }).commands
    const busyboxRepo = await gitRepo('from-busybox', { Dockerfile: `FROM ${refs.busybox}\nRUN echo built-on-busybox > /built\n` })
    const tag = `t-${Date.now()}`
    const [onDebian, onBusybox] = await Promise.all([
      service.submitJob({
        ...example,
        image,
        tags: [`debian-${tag}`],
        // One container per command, each a copy of the image's 80 MB on vfs: one command more.
        // Bookworm, and slim: no manual pages, of a package's documentation only its copyright.
        test: { commands: [...exampleTests, 'test "$(cut -d. -f1 /etc/debian_version)" = 12 && test ! -e /usr/share/man/man1/bash.1.gz && test "$(ls /usr/share/doc/bash)" = copyright'] },
      }),
      service.submitJob({
        repo: busyboxRepo,
        image,
        tags: [`busybox-${tag}`],
        test: { commands: ['test "$(cat /built)" = built-on-busybox && wget --help 2>&1 | grep -q Usage'] },
      }),
    ])
    const [debianStatus, busyboxStatus] = await Promise.all([onDebian, onBusybox].map((s) => service.waitForJob({ id: s.id, until: 'final', timeoutSeconds: 150 })))
    expect(debianStatus?.failure).toBeUndefined()
    expect(debianStatus?.status).toBe('SUCCEEDED')
    expect(busyboxStatus?.failure).toBeUndefined()
    expect(busyboxStatus?.status).toBe('SUCCEEDED')
    // Built on the registry's Debian: the published image starts with its layer (the build log
    // may show no FROM line: a node that built this tree before reuses its image).
    const [published, base] = await Promise.all([diffIds(`${image}:debian-${tag}`), diffIds(refs.debian)])
    expect(published[0]).toBe(base[0]!)
    expect(exampleTests[0]).toBe('cat /etc/debian_version')
    const version = await service.getLogs({ id: onDebian.id, task: 'test-0' })
    expect(version.logs[0]?.text).toMatch(/^12\.\d+$/m)
    expect(await registryDigest(image, `debian-${tag}`)).toBe(debianStatus?.result?.digest)
  }, 180_000)

  test('nbs dev status lists both with the digests the registry serves', async () => {
    const p = Bun.spawn([process.execPath, resolve(import.meta.dir, '../../src/cli/main.ts'), 'dev', 'status'], { stdout: 'pipe', stderr: 'pipe' })
    const [out] = await Promise.all([new Response(p.stdout).text(), p.exited])
    for (const ref of [refs.busybox, refs.debian]) {
      const [repository, tag] = ref.slice(urls.registry.length + 1).split(':')
      const digest = await registryDigest(`${urls.registry}/${repository}`, tag!)
      expect(digest).toStartWith('sha256:')
      expect(out).toMatch(new RegExp(`^  ${ref.replaceAll('.', '\\.')} +${digest}$`, 'm'))
    }
  })
})
