// Benchmark of the docker profile, from one run: the builder image's size and build time, then
// a job's build and test phases in that image (rootless, user build, as Nomad's docker driver
// runs them) on vfs and on native overlay, cold (empty store) and warm (layers cached), side by
// side. Needs root (mmdebstrap, dockerd); starts a private dockerd and stops it.
//   bun bench/builder.ts          BENCH_WARM_RUNS=3 by default
import { chownSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { builderRef, builderTag } from '../src/builder/definition'
import { buildBuilderImage } from '../src/builder/image'
import { loadConfig, type StorageDriver } from '../src/config'
import { dockerdDaemon, dockerPing, dockerSocket, releaseDockerMounts } from '../src/dev/docker'
import { dockerNeeds, ensurePackages } from '../src/dev/packages'
import { devPaths } from '../src/dev/paths'
import { startDaemon, stopDaemon, waitFor } from '../src/dev/process'
import { publishRepo } from '../src/dev/repos'
import { renderJob } from '../src/jobs/render'
import { runDockerTask } from './docker-task'

const warmRuns = Number(process.env.BENCH_WARM_RUNS ?? 3)
const work = mkdtempSync(join(tmpdir(), 'nbs-bench-builder-'))
const paths = { ...devPaths({ ...process.env, NBS_STATE_DIR: work }), logs: join(work, 'logs') }
const log = (m: string) => console.error(`bench: ${m}`)
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const s = (x: number) => `${x.toFixed(1)} s`

async function run(args: string[], env: Record<string, string> = {}): Promise<string> {
  const p = Bun.spawn(args, { env: { ...process.env, ...env }, stdout: 'pipe', stderr: 'pipe' })
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited])
  if (code !== 0) throw new Error(`${args.join(' ')}: ${err.trim()}`)
  return out
}

try {
  // 1. The image, built from nothing: an empty tool cache, Debian's mirror as apt reaches it.
  await ensurePackages(log, dockerNeeds)
  const t0 = performance.now()
  const archive = await buildBuilderImage(log, () => {}, { ...process.env, XDG_CACHE_HOME: join(work, 'cache') })
  const buildSeconds = (performance.now() - t0) / 1000
  const compressedMB = statSync(archive).size / 1e6

  // 2. A private engine with the image in it, as a node's Docker would have it after the pull.
  const dockerHost = `unix://${dockerSocket(paths)}`
  startDaemon(work, paths.logs, dockerdDaemon(paths))
  await waitFor('dockerd', dockerPing(dockerHost), 60_000, join(paths.logs, 'docker.log'))
  const image = builderRef('bench.invalid')
  await run(['skopeo', 'copy', '-q', '--dest-daemon-host', dockerHost, `oci-archive:${archive}`, `docker-daemon:${image}`])
  const unpackedMB = Number(await run(['docker', 'image', 'inspect', '--format', '{{.Size}}', image], { DOCKER_HOST: dockerHost })) / 1e6

  // 3. The workloads as Git repos the task clones over file://, owned by the task user: the
  // hello-world example, and the same on a 200 MB base, where vfs copies the root filesystem
  // for every layer and every test container.
  const repos = join(work, 'repos')
  const bigBase = join(work, 'big-base')
  mkdirSync(bigBase)
  writeFileSync(
    join(bigBase, 'Dockerfile'),
    `FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox --install -s /bin && head -c 200000000 /dev/urandom > /base.bin"]
RUN echo hello-from-build > /hello
RUN echo second-layer > /second
CMD ["/bin/sh", "-c", "cat /hello"]
`,
  )
  const workloads = [
    { name: 'hello-world', files: join(import.meta.dir, '../examples/hello-world') },
    { name: 'on a 200 MB base', files: bigBase },
  ].map((w, i) => ({ ...w, repo: `w${i}` }))
  for (const w of workloads) await publishRepo(repos, w.repo, w.files)
  await run(['chown', '-R', '1000:1000', repos])

  /** One job's build and test phases (publish needs a registry and adds the same for both drivers). */
  const jobOnce = async (repo: string, driver: StorageDriver, cache: string, n: number): Promise<number> => {
    const config = loadConfig({ NBS_PROFILE: 'docker', NBS_BUILDAH_IMAGE: image, NBS_DOCKER_NETWORK: 'host', NBS_STORAGE_DRIVER: driver })
    const id = `bench-${repo}-${driver}-${n}`
    const request = { repo: `file:///repos/${repo}`, image: 'bench.invalid/hello', test: { commands: ['test "$(cat /hello)" = hello-from-build'] } }
    const job = renderJob({ id, request, createdAt: new Date() }, config)
    let seconds = 0
    for (const task of job.TaskGroups[0]!.Tasks.filter((t) => t.Name !== 'publish')) {
      task.VolumeMounts = [...(task.VolumeMounts ?? []), { Volume: 'repos', Destination: '/repos', ReadOnly: true }]
      const r = await runDockerTask(task, id, join(work, 'allocs', id), { cache, repos }, dockerHost)
      if (r.code !== 0) throw new Error(`${task.Name} of ${repo} on ${driver} exited ${r.code}:\n${r.output.slice(-2000)}`)
      if (task.Name === 'build' && !r.output.includes(`storage driver ${driver} `)) throw new Error(`the build did not use ${driver}:\n${r.output.slice(0, 500)}`)
      seconds += r.seconds
    }
    return seconds
  }

  // 4. Cold (an empty store) then warm (layers cached) on each driver, the drivers alternating so
  // the machine's drift hits both alike.
  const drivers: StorageDriver[] = ['vfs', 'overlay']
  const rows: string[] = []
  for (const w of workloads) {
    const caches = Object.fromEntries(drivers.map((d) => [d, join(work, `cache-${w.repo}-${d}`)]))
    for (const dir of Object.values(caches)) {
      mkdirSync(dir)
      chownSync(dir, 1000, 1000)
    }
    const cold: Record<string, number> = {}
    const warm: Record<string, number[]> = { vfs: [], overlay: [] }
    for (const d of drivers) cold[d] = await jobOnce(w.repo, d, caches[d]!, 0)
    for (let i = 1; i <= warmRuns; i++) for (const d of drivers) warm[d]!.push(await jobOnce(w.repo, d, caches[d]!, i))
    const [v, o] = [median(warm.vfs!), median(warm.overlay!)]
    rows.push(`  ${w.name.padEnd(17)} ${s(cold.vfs!).padEnd(8)} ${s(cold.overlay!).padEnd(8)} ${(cold.vfs! / cold.overlay!).toFixed(2).padEnd(6)}    ${s(v).padEnd(8)} ${s(o).padEnd(8)} ${(v / o).toFixed(2)}`)
  }

  console.log(`builder image ${builderTag()}: ${compressedMB.toFixed(1)} MB compressed, ${unpackedMB.toFixed(1)} MB unpacked; built in ${s(buildSeconds)} (mmdebstrap + buildah, empty cache)`)
  console.log(`build + one test of a job in the builder image (docker run as Nomad's docker driver runs it, user build; warm: median of ${warmRuns}):`)
  console.log(`  workload          cold: vfs  overlay  vfs/ov    warm: vfs overlay  vfs/ov`)
  for (const r of rows) console.log(r)
} finally {
  await stopDaemon(work, 'docker', 20_000)
  releaseDockerMounts(paths)
  rmSync(work, { recursive: true, force: true })
}
