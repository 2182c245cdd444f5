// What the docker profile's builds leave in Docker: nothing. Nomad removes a task's container
// without its anonymous volumes, so an image VOLUME would leak one per task (issue 12: 270 after
// an hour); a container Nomad's driver lost track of would stay for ever. Builds end every way a
// build can: published, a failed test, a failed build, killed, timed out.
import { beforeAll, describe, expect, test } from 'bun:test'
import { nomadJobId } from '../../src/jobs/ids'
import type { JobRequest } from '../../src/jobs/request'
import { busyboxDockerfile, dockerGet, ensureStack, gitRepo, nomad, profile, service, taskContainers, urls } from '../support/dev-stack'
import { eventually } from '../support/eventually'

beforeAll(ensureStack, 180_000)

const image = `${urls.registry}/e2e/leftovers`
const hello = `${urls.git}/hello-world`
const volumes = async () => ((await dockerGet<{ Volumes: { Name: string }[] | null }>('/volumes')).Volumes ?? []).map((v) => v.Name)

describe.skipIf(profile !== 'docker')('Docker after builds of the docker profile (raw_exec runs no container)', () => {
  test('20 builds, ended every way: no container of theirs is left, and no volume', async () => {
    const slow = await gitRepo(`leftovers-slow-${Date.now()}`, { Dockerfile: busyboxDockerfile('RUN sleep 60') })
    type Build = { request: JobRequest; kill?: boolean; ends: string }
    const builds: Build[] = [
      ...Array.from({ length: 11 }, (): Build => ({ request: { repo: hello, image, test: { commands: ['test -s /hello'] } }, ends: 'SUCCEEDED' })),
      ...Array.from({ length: 3 }, (): Build => ({ request: { repo: hello, image, test: { commands: ['exit 3'] } }, ends: 'test_failed' })),
      ...Array.from({ length: 2 }, (): Build => ({ request: { repo: `${urls.git}/broken-build`, image }, ends: 'build_failed' })),
      ...Array.from({ length: 2 }, (): Build => ({ request: { repo: slow, image }, kill: true, ends: 'killed' })),
      ...Array.from({ length: 2 }, (): Build => ({ request: { repo: slow, image, timeouts: { build: 5 } }, ends: 'timeout' })),
    ]
    const before = await volumes()

    // Every container the builds run, seen while they run: the same query that must find none at the end.
    const jobs: string[] = []
    const seen = new Map<string, string>()
    const mounted = new Set<string>()
    let watching = true
    const watch = (async () => {
      while (watching) {
        for (const c of await taskContainers(jobs)) {
          seen.set(c.Id, c.job)
          for (const m of c.Mounts) if (m.Type === 'volume' && m.Name) mounted.add(m.Name)
        }
        await Bun.sleep(250)
      }
    })()

    // Five at a time: the node's two cores, not Nomad's queue, are what this would measure otherwise.
    const outcomes: string[] = []
    const queue = [...builds]
    const worker = async () => {
      for (let b = queue.shift(); b; b = queue.shift()) {
        const { id } = await service.submitJob(b.request)
        jobs.push(nomadJobId(id))
        if (b.kill) {
          let st = await service.getStatus(id)
          while (st.status === 'PENDING') st = await service.waitForJob({ id, until: 'change', timeoutSeconds: 60 })
          await Bun.sleep(1000)
          await service.killJob(id)
        }
        const st = await service.waitForJob({ id, until: 'final', timeoutSeconds: 150 })
        outcomes.push(`${b.ends}: ${st.failure?.reason ?? st.status}`)
      }
    }
    await Promise.all(Array.from({ length: 5 }, worker))
    expect(outcomes.sort()).toEqual(builds.map((b) => `${b.ends}: ${b.ends}`).sort())

    // A final status can come before the poststop publish has ended: wait for every allocation.
    const running = async () => (await Promise.all(jobs.map(async (j) => (await nomad.jobs.allocations(j)).data))).flat().filter((a) => a.ClientStatus === 'running' || a.ClientStatus === 'pending')
    await eventually('every allocation ended', async () => (await running()).length === 0, 60_000, 500)
    watching = false
    await watch

    expect(new Set(seen.values()).size).toBe(20)
    expect(await taskContainers(jobs)).toEqual([])
    // Also by the containers seen: found through allocations, which Nomad may have collected by now.
    const left = (await dockerGet<{ Id: string }[]>('/containers/json?all=1')).filter((c) => seen.has(c.Id))
    expect(left).toEqual([])
    const after = await volumes()
    expect(after.filter((v) => !before.includes(v))).toEqual([])
    expect([...mounted].filter((v) => after.includes(v))).toEqual([])
  }, 420_000)
})
