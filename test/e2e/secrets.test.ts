// Secrets by reference on the dev stack: a private registry with htpasswd auth, credentials in a
// Nomad Variable, build secrets; values never in logs, job specs or API answers.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { nomadJobId } from '../../src/jobs/ids'
import { BuildService } from '../../src/service/build-service'
import { publishRepo } from '../../src/dev/repos'
import { busyboxDockerfile, config, ensureStack, gitRepo, nomad, urls } from '../support/dev-stack'
import { privateGitServer } from '../support/git-http'

const password = `pw-${crypto.randomUUID()}`
const buildToken = `tok-${crypto.randomUUID()}`
const port = 15000 + Math.floor(Math.random() * 1000)
const registry = `127.0.0.1:${port}`
const image = `${registry}/private/app`
const varPath = `nbs/e2e/registry-${port}`
const tokenPath = `nbs/e2e/token-${port}`
let registryProc: ReturnType<typeof Bun.spawn> | undefined
let service: BuildService

beforeAll(async () => {
  await ensureStack()
  const dir = mkdtempSync(join(tmpdir(), 'nbs-private-registry-'))
  writeFileSync(join(dir, 'htpasswd'), `builder:${await Bun.password.hash(password, { algorithm: 'bcrypt', cost: 4 })}\n`)
  writeFileSync(
    join(dir, 'config.yml'),
    `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\nhttp:\n  addr: ${registry}\nauth:\n  htpasswd:\n    realm: nbs-test\n    path: ${dir}/htpasswd\n`,
  )
  registryProc = Bun.spawn(['/usr/bin/docker-registry', 'serve', join(dir, 'config.yml')], { stdout: 'ignore', stderr: 'ignore' })
  for (let i = 0; i < 100; i++) {
    const up = await fetch(`http://${registry}/v2/`).then((r) => r.status === 401, () => false)
    if (up) break
    await Bun.sleep(100)
  }
  await nomad.variables.put(varPath, { username: 'builder', password })
  await nomad.variables.put(tokenPath, { value: buildToken })
  service = new BuildService(nomad, { ...config, insecureRegistries: [...config.insecureRegistries, registry] })
}, 180_000)

afterAll(async () => {
  registryProc?.kill()
  await nomad.variables.delete(varPath).catch(() => {})
  await nomad.variables.delete(tokenPath).catch(() => {})
})

const helloRepo = () => `${urls.git}/hello-world`
const basic = `Basic ${Buffer.from(`builder:${password}`).toString('base64')}`

async function everything(id: string): Promise<string> {
  const status = await service.getStatus(id)
  const logs = await service.getLogs({ id, tail: 0 })
  const job = (await nomad.jobs.info(nomadJobId(id))).data
  return JSON.stringify({ status, logs, job })
}

describe('registry credentials from a Nomad Variable', () => {
  test('publishes to a registry with basic auth; the password is in no log, job spec or answer', async () => {
    const sub = await service.submitJob({
      repo: helloRepo(),
      image,
      tags: ['v1'],
      secrets: { registry: `nomad:${varPath}` },
      test: { commands: ['env; cat /proc/self/environ; ls -la / /run/secrets 2>&1; true'] },
    })
    const st = await service.waitForJob({ id: sub.id, until: 'final', timeoutSeconds: 120 })
    expect(st.status).toBe('SUCCEEDED')
    const head = await fetch(`http://${registry}/v2/private/app/manifests/v1`, {
      method: 'HEAD',
      headers: { Authorization: basic, Accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' },
    })
    expect(head.headers.get('Docker-Content-Digest')).toBe(st.result?.digest ?? 'missing')
    const all = await everything(sub.id)
    expect(all).toContain('logging in to')
    expect(all).not.toContain(password)
    const testLog = (await service.getLogs({ id: sub.id, phase: 'test', tail: 0 })).logs[0]?.text ?? ''
    expect(testLog).toContain('PATH=')
    expect(testLog).not.toContain('builder')
  })

  test('with cache.registry on that registry the build logs in with the same reference and pushes its layers there; the password is in no log, job spec or answer', async () => {
    // A step of this run's own, so that the layer is new and goes to the registry.
    const repo = await gitRepo(`cache-auth-${port}`, { Dockerfile: busyboxDockerfile(`RUN echo ${crypto.randomUUID()} > /u`) })
    const cache = `${registry}/private/app-cache`
    const sub = await service.submitJob({ repo, image, tags: ['v3'], cache: { registry: cache }, secrets: { registry: `nomad:${varPath}` } })
    const st = await service.waitForJob({ id: sub.id, until: 'final', timeoutSeconds: 120 })
    expect(st.status).toBe('SUCCEEDED')
    const buildLog = (await service.getLogs({ id: sub.id, phase: 'build', tail: 0 })).logs[0]?.text ?? ''
    expect(buildLog).toContain(`logging in to ${registry} as `)
    expect(buildLog).toContain(`--> Pushing cache ${cache}:`)
    const tags = (await (await fetch(`http://${cache.replace(registry, `${registry}/v2`)}/tags/list`, { headers: { Authorization: basic } })).json()) as { tags?: string[] }
    expect(tags.tags?.length).toBeGreaterThan(0)
    expect(await everything(sub.id)).not.toContain(password)
  })

  test('the same build without credentials fails at publish, saying why', async () => {
    const sub = await service.submitJob({ repo: helloRepo(), image, tags: ['v2'] })
    const st = await service.waitForJob({ id: sub.id, until: 'final', timeoutSeconds: 120 })
    expect(st.status).toBe('FAILED')
    expect(st.failure?.reason).toBe('publish_failed')
    expect(st.failure?.logTail).toMatch(/authentication required|unauthorized/i)
  })

  test('a reference outside the allowed prefixes is refused before Nomad', async () => {
    const strict = new BuildService(nomad, { ...config, secretPrefixes: ['nomad:nbs/other/'] })
    const e = await strict.submitJob({ repo: helloRepo(), image, secrets: { registry: `nomad:${varPath}` } }).catch((x: Error) => x)
    expect((e as { field?: string }).field).toBe('secrets.registry')
  })
})

describe('build secrets', () => {
  test('reach the RUN step that mounts them, and are masked where the build prints them', async () => {
    const repo = await gitRepo(`secret-build-${port}`, {
      Dockerfile: busyboxDockerfile(
        // A step of this run's own: the layer cache would otherwise replay an earlier run's, silently.
        `RUN --mount=type=secret,id=token echo "run ${crypto.randomUUID()}" && sha256sum /run/secrets/token`,
        'RUN --mount=type=secret,id=token echo "leaking $(cat /run/secrets/token)"',
        'RUN test ! -e /run/secrets/token',
      ),
    })
    const sub = await service.submitJob({ repo, image: `${urls.registry}/e2e/secret-build`, secrets: { build: { token: `nomad:${tokenPath}` } } })
    const st = await service.waitForJob({ id: sub.id, until: 'final', timeoutSeconds: 120 })
    const log = (await service.getLogs({ id: sub.id, phase: 'build', tail: 0 })).logs[0]?.text ?? ''
    expect(st.status).toBe('SUCCEEDED')
    const sha = new Bun.CryptoHasher('sha256').update(buildToken).digest('hex')
    expect(log).toContain(`${sha}  /run/secrets/token`)
    expect(log).toContain('leaking ****')
    expect(await everything(sub.id)).not.toContain(buildToken)
  })
})

describe('a private Git repository over HTTPS-style basic auth', () => {
  const gitPassword = `git-${crypto.randomUUID()}`
  const gitVar = `nbs/e2e/git-${port}`
  let server: ReturnType<typeof privateGitServer>
  let repo: string

  beforeAll(async () => {
    const root = mkdtempSync(join(tmpdir(), 'nbs-private-git-'))
    const files = mkdtempSync(join(tmpdir(), 'nbs-private-files-'))
    // A step of this run's own: a node that built this tree before would reuse its image and print no step.
    writeFileSync(join(files, 'Dockerfile'), busyboxDockerfile(`RUN echo private-build ${crypto.randomUUID()}`))
    await publishRepo(root, 'private.git', files)
    server = privateGitServer(root, 'agent', gitPassword)
    repo = `http://127.0.0.1:${server.port}/private.git`
    await nomad.variables.put(gitVar, { username: 'agent', password: gitPassword })
  })

  afterAll(async () => {
    server?.stop(true)
    await nomad.variables.delete(gitVar).catch(() => {})
  })

  test('clones with the referenced credentials; the password is in no log, job spec or answer', async () => {
    const sub = await service.submitJob({ repo, image: `${urls.registry}/e2e/private-git`, secrets: { git: `nomad:${gitVar}` } })
    const st = await service.waitForJob({ id: sub.id, until: 'final', timeoutSeconds: 120 })
    expect(st.status).toBe('SUCCEEDED')
    const all = await everything(sub.id)
    expect(all).toContain('private-build')
    expect(all).not.toContain(gitPassword)
  })

  test('without credentials the build fails at once, saying the fetch was refused', async () => {
    const sub = await service.submitJob({ repo, image: `${urls.registry}/e2e/private-git` })
    const st = await service.waitForJob({ id: sub.id, until: 'final', timeoutSeconds: 60 })
    expect(st.status).toBe('FAILED')
    expect(st.failure?.reason).toBe('build_failed')
    expect(st.failure?.logTail).toMatch(/could not read Username|Authentication failed|terminal prompts disabled/i)
  })
})
