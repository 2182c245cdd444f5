// Records what Buildah 1.28 and Git print for each failure cause, from real builds on the dev
// stack, into test/fixtures/buildah-1.28/<case>/: the failing task's log, the final allocation, and
// (where one was seen) the allocation while publish still ran after the status read FAILED.
// Run: bun test/support/record-causes.ts [case…]   (with the dev stack's env, as for the e2e tests)
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { nomadJobId } from '../../src/jobs/ids'
import type { JobRequest } from '../../src/jobs/request'
import type { Allocation } from '../../src/nomad/types'
import { publishRepo } from '../../src/dev/repos'
import { BuildService } from '../../src/service/build-service'
import { busyboxDockerfile, config, ensureStack, gitRepo, nomad, stack, urls } from './dev-stack'

const out = join(import.meta.dir, '../fixtures/buildah-1.28')
const image = `${urls.registry}/record/causes`
// Beside the stack's registry port, where nothing listens (a push there finds no registry).
const deadRegistry = `127.0.0.1:${Number(urls.registry.split(':')[1]) + 2}`
const authRegistry = `127.0.0.1:${Number(urls.registry.split(':')[1]) + 3}`
const wrongLogin = 'nbs/record/wrong-login'

interface Case {
  request: () => Promise<JobRequest>
  /** The task whose log tells the cause. */
  task: string
  kill?: boolean
}

const hello = `${urls.git}/hello-world`
const repoWith = (name: string, dockerfile: string) => gitRepo(`causes-${name}`, { Dockerfile: dockerfile })

/** A repo whose `path` is a committed symlink to `target`. */
async function repoWithLink(name: string, path: string, target: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'nbs-record-repo-'))
  symlinkSync(target, join(dir, path))
  await publishRepo(stack.paths.git, name, dir)
  return `${urls.git}/${name}`
}

const cases: Record<string, Case> = {
  'unknown-instruction': { task: 'build', request: async () => ({ repo: await repoWith('runn', busyboxDockerfile('RUNN echo hi')), image }) },
  'copy-missing': { task: 'build', request: async () => ({ repo: await repoWith('copy', busyboxDockerfile('COPY not-there.txt /app/')), image }) },
  'base-missing': { task: 'build', request: async () => ({ repo: await repoWith('base', `FROM ${urls.registry}/nope/missing\nRUN true\n`), image }) },
  'run-exit-42': { task: 'build', request: async () => ({ repo: await repoWith('exit42', busyboxDockerfile('RUN echo failing on purpose; exit 42')), image }) },
  'build-timeout': {
    task: 'build',
    request: async () => ({ repo: await repoWith('slow-step', busyboxDockerfile('RUN sleep 60')), image, timeouts: { build: 5 } }),
  },
  'multistage-step': {
    task: 'build',
    request: async () => ({
      repo: await repoWith('stages', `${busyboxDockerfile('RUN echo first stage').replace('FROM scratch', 'FROM scratch AS base')}FROM base\nRUN echo second stage; exit 7\n`),
      image,
    }),
  },
  'no-dockerfile': { task: 'build', request: async () => ({ repo: await gitRepo('causes-nodf', { 'README.md': 'no Dockerfile here\n' }), image }) },
  'dockerfile-escapes': { task: 'build', request: async () => ({ repo: await repoWithLink('causes-escape', 'Dockerfile', '/etc/hostname'), image }) },
  'repo-missing': { task: 'build', request: async () => ({ repo: `${urls.git}/does-not-exist`, image }) },
  'ref-missing': { task: 'build', request: async () => ({ repo: hello, ref: 'no-such-branch', image }) },
  'test-fails': { task: 'test-0', request: async () => ({ repo: hello, image, test: { commands: ['echo checking; exit 3'] } }) },
  'test-timeout': { task: 'test-0', request: async () => ({ repo: hello, image, test: { commands: ['sleep 60'], timeout: 2 } }) },
  'push-unreachable': { task: 'publish', request: async () => ({ repo: hello, image: `${deadRegistry}/record/causes` }) },
  'push-unauthorized': { task: 'publish', request: async () => ({ repo: hello, image: `${authRegistry}/record/causes` }) },
  'login-refused': {
    task: 'publish',
    request: async () => {
      // A password the registry never had: the login itself is refused.
      await nomad.variables.put(wrongLogin, { username: 'builder', password: crypto.randomUUID() })
      return { repo: hello, image: `${authRegistry}/record/causes`, secrets: { registry: `nomad:${wrongLogin}` } }
    },
  },
  'killed-building': {
    task: 'build',
    kill: true,
    request: async () => ({ repo: await repoWith('slow', busyboxDockerfile('RUN sleep 60')), image, test: { commands: ['true'] } }),
  },
}

/** A registry that wants basic auth, like the one test/e2e/secrets.test.ts makes; nobody has its password. */
async function startAuthRegistry(): Promise<ReturnType<typeof Bun.spawn>> {
  const dir = mkdtempSync(join(tmpdir(), 'nbs-record-registry-'))
  writeFileSync(join(dir, 'htpasswd'), `builder:${await Bun.password.hash(crypto.randomUUID(), { algorithm: 'bcrypt', cost: 4 })}\n`)
  writeFileSync(
    join(dir, 'config.yml'),
    `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\nhttp:\n  addr: ${authRegistry}\nauth:\n  htpasswd:\n    realm: nbs-record\n    path: ${dir}/htpasswd\n`,
  )
  const proc = Bun.spawn(['/usr/bin/docker-registry', 'serve', join(dir, 'config.yml')], { stdout: 'ignore', stderr: 'ignore' })
  for (let i = 0; i < 100; i++) {
    if (await fetch(`http://${authRegistry}/v2/`).then((r) => r.status === 401, () => false)) return proc
    await Bun.sleep(100)
  }
  throw new Error(`the auth registry did not come up on ${authRegistry}`)
}

// Task states appear one by one: an allocation has ended when publish, the last task, has.
const ended = (a?: Allocation) => a?.TaskStates?.publish?.State === 'dead'

async function record(name: string, c: Case, service: BuildService): Promise<void> {
  const sub = await service.submitJob(await c.request())
  const dir = join(out, name)
  mkdirSync(dir, { recursive: true })
  let publishRunning: Allocation | undefined
  let alloc: Allocation | undefined
  let killed = false
  const deadline = Date.now() + 180_000
  while (Date.now() < deadline) {
    const stubs = (await nomad.jobs.allocations(nomadJobId(sub.id))).data
    alloc = stubs[0] && (await nomad.allocations.info(stubs[0].ID)).data
    if (c.kill && !killed && alloc?.TaskStates?.build?.State === 'running') {
      await Bun.sleep(2000)
      await service.killJob(sub.id)
      killed = true
    }
    if (!publishRunning && alloc && (await service.getStatus(sub.id)).status === 'FAILED' && alloc.TaskStates?.publish?.State === 'running')
      publishRunning = alloc
    if (ended(alloc)) break
    await Bun.sleep(50)
  }
  const logs = await service.getLogs({ id: sub.id, task: c.task, tail: 0 })
  writeFileSync(join(dir, `${c.task}.log`), logs.logs[0]?.text ?? '')
  writeFileSync(join(dir, 'alloc-final.json'), `${JSON.stringify(alloc, null, 2)}\n`)
  if (publishRunning) writeFileSync(join(dir, 'alloc-publish-running.json'), `${JSON.stringify(publishRunning, null, 2)}\n`)
  const st = await service.getStatus(sub.id)
  console.log(`${name}: ${st.status} ${st.failure?.reason}: ${st.failure?.message}${publishRunning ? ' (publish seen running after FAILED)' : ''}`)
}

await ensureStack()
const wanted = process.argv.slice(2)
const registry = wanted.length === 0 || wanted.some((w) => w === 'push-unauthorized' || w === 'login-refused') ? await startAuthRegistry() : undefined
const service = new BuildService(nomad, { ...config, insecureRegistries: [...config.insecureRegistries, deadRegistry, authRegistry] })
try {
  for (const [name, c] of Object.entries(cases)) if (wanted.length === 0 || wanted.includes(name)) await record(name, c, service)
} finally {
  registry?.kill()
  await nomad.variables.delete(wrongLogin).catch(() => {})
}
