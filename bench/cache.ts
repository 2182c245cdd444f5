// Benchmark: the layer cache on the dev stack. A repo with realistic steps (a 100 MB base image
// made offline, dependency and compile RUN steps of a few seconds, the app's files copied last) built
// cold (noCache), rebuilt from the same commit (the node names the image it built from that tree
// again, without Buildah: build.sh), and rebuilt after one app file changed. Prints
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

// The base image: busybox and 100 MB that does not compress away, made without a public registry
// and pushed to the dev registry, as a team's own base image would be.
const base = `${urls.registry}/bench/base:100mb`
const made = Bun.spawnSync(['sh', '-c', `set -e
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
B="buildah --root $W/store --runroot $W/run --storage-driver vfs"
C=$($B from scratch)
$B copy "$C" /bin/busybox /bin/busybox
$B run --isolation chroot "$C" -- /bin/busybox sh -c '/bin/busybox --install -s /bin && mkdir -p /opt && dd if=/dev/urandom of=/opt/base.bin bs=1M count=100 2>/dev/null'
$B commit -q "$C" localhost/bench/base >/dev/null
$B push -q --tls-verify=false localhost/bench/base "docker://$1"
`, 'sh', base])
if (made.exitCode !== 0) throw new Error(`making the base image failed: ${made.stderr.toString()}`)

const dockerfile = `FROM ${base}
RUN sleep 3 && dd if=/dev/urandom of=/opt/deps.bin bs=1M count=20 2>/dev/null
RUN sleep 2 && sha256sum /opt/base.bin /opt/deps.bin > /opt/built
COPY app/ /app/
`

// One working tree for every commit, so that only the app's file differs between commits.
const dir = mkdtempSync(join(tmpdir(), 'nbs-bench-'))
writeFileSync(join(dir, 'Dockerfile'), dockerfile)
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
console.log(`layer cache: build phase of a repo FROM a 100 MB base image, ${runs} rounds, one run`)
console.log(line('cold (noCache)', cold))
console.log(line('rebuild, same commit (reused)', same))
console.log(line('rebuild, one app file changed', changed))
console.log(`  ratio same/cold:    median ${median(same.map((s, i) => s / cold[i]!)).toFixed(2)} (target ≤ 0.25)`)
console.log(`  ratio changed/cold: median ${median(changed.map((s, i) => s / cold[i]!)).toFixed(2)}`)
