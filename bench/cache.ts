// Benchmark: the layer cache on the dev stack. A repo with realistic steps (a 100 MB base made
// offline, dependency and compile RUN steps of a few seconds, the app's files copied last) built
// cold (noCache), rebuilt from the same commit, and rebuilt after one app file changed. Prints
// each build phase's time and the rebuilds' ratio to the cold build, all from one run.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../src/config'
import { publishRepo } from '../src/dev/repos'
import { devServiceEnv, devStack, devUp, devUrls } from '../src/dev/stack'
import { createService } from '../src/service/index'

const runs = Number(process.env.BENCH_RUNS ?? 3)
const stack = devStack()
await devUp(stack, () => {})
const urls = devUrls(stack)
const service = createService(loadConfig({ ...process.env, ...devServiceEnv(stack) }))
const name = `bench-cache-${Date.now().toString(36)}`

const dockerfile = `FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox --install -s /bin"]
COPY base.bin /opt/base.bin
RUN sleep 3 && dd if=/dev/urandom of=/opt/deps.bin bs=1M count=20 2>/dev/null
RUN sleep 2 && sha256sum /opt/base.bin /opt/deps.bin > /opt/built
COPY app/ /app/
`

// One working tree for every commit: 100 MB that does not compress away (the base image's weight,
// made without a registry), written once, so that only the app's file differs between commits.
const dir = mkdtempSync(join(tmpdir(), 'nbs-bench-'))
writeFileSync(join(dir, 'Dockerfile'), dockerfile)
Bun.spawnSync(['dd', 'if=/dev/urandom', `of=${join(dir, 'base.bin')}`, 'bs=1M', 'count=100'], { stderr: 'ignore' })
mkdirSync(join(dir, 'app'))

async function publish(app: string): Promise<string> {
  writeFileSync(join(dir, 'app', 'main.txt'), app)
  return publishRepo(stack.paths.git, name, dir, `app ${app}`)
}

async function buildSeconds(extra: Record<string, unknown> = {}): Promise<number> {
  const { id } = await service.submitJob({ repo: `${urls.git}/${name}`, image: `${urls.registry}/bench/cache`, ...extra })
  const st = await service.waitForJob({ id, until: 'final', timeoutSeconds: 600 })
  if (st.status !== 'SUCCEEDED') throw new Error(`build ${id}: ${st.status} ${st.failure?.message}`)
  const build = st.tasks.find((t) => t.task === 'build')!
  return (Date.parse(build.finishedAt!) - Date.parse(build.startedAt!)) / 1000
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
const cold: number[] = []
const same: number[] = []
const changed: number[] = []
await publish('v0')
await buildSeconds()
for (let i = 0; i < runs; i++) {
  cold.push(await buildSeconds({ noCache: true }))
  same.push(await buildSeconds())
  await publish(`v${i + 1}`)
  changed.push(await buildSeconds())
}
const line = (label: string, xs: number[]) =>
  `  ${label.padEnd(30)} median ${median(xs).toFixed(2)} s (min ${Math.min(...xs).toFixed(2)}, max ${Math.max(...xs).toFixed(2)})`
console.log(`layer cache: build phase of a 100 MB-base repo, ${runs} rounds, one run`)
console.log(line('cold (noCache)', cold))
console.log(line('rebuild, same commit', same))
console.log(line('rebuild, one app file changed', changed))
console.log(`  ratio same/cold:    median ${median(same.map((s, i) => s / cold[i]!)).toFixed(2)} (target ≤ 0.25)`)
console.log(`  ratio changed/cold: median ${median(changed.map((s, i) => s / cold[i]!)).toFixed(2)}`)
