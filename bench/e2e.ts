// Benchmark: the service's submit → SUCCEEDED for examples/hello-world beside the bare
// git clone + buildah bud + buildah run + buildah push script doing the same work, run
// alternately in one process so the machine's drift hits both alike. Prints the ratio.
import { loadConfig } from '../src/config'
import { devServiceEnv, devStack, devUp, devUrls } from '../src/dev/stack'
import { createService } from '../src/service/index'

const runs = Number(process.env.BENCH_RUNS ?? 5)
const stack = devStack()
await devUp(stack, () => {})
const urls = devUrls(stack)
const service = createService(loadConfig({ ...process.env, ...devServiceEnv(stack) }))
const repo = `${urls.git}/hello-world`
const image = `${urls.registry}/bench/hello-world`
const testCommand = 'test "$(cat /hello)" = hello-from-build'

async function viaService(i: number | string): Promise<number> {
  const t0 = performance.now()
  const { id } = await service.submitJob({ repo, image, tags: [`svc-${i}`], test: { commands: [testCommand] } })
  const st = await service.waitForJob({ id, until: 'final', timeoutSeconds: 300 })
  if (st.status !== 'SUCCEEDED') throw new Error(`service run ${i}: ${st.status} ${st.failure?.message}`)
  return performance.now() - t0
}

// The same store, flags and steps the job's tasks use, in one shell script; overlay is the driver
// the build's probe picks for root on this kernel (prepare_store in jobspecs/tasks/common.sh).
const bare = `set -e
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
B="buildah --root $STORE/storage --runroot $STORE/run --storage-driver overlay"
git clone -q --depth 1 "$REPO" "$W/src"
$B bud -q --isolation chroot --layers -f "$W/src/Dockerfile" -t "localhost/bench/bare:$TAG" "$W/src" >/dev/null
C=$($B from --pull-never "localhost/bench/bare:$TAG")
$B run --isolation chroot "$C" -- /bin/sh -c "$TEST"
$B rm "$C" >/dev/null
$B push -q --tls-verify=false --digestfile "$W/digest" "localhost/bench/bare:$TAG" "docker://$IMAGE:bare-$TAG"
$B rmi "localhost/bench/bare:$TAG" >/dev/null
`

async function viaScript(i: number | string): Promise<number> {
  const t0 = performance.now()
  const p = Bun.spawn(['/bin/sh', '-c', bare], {
    env: { ...process.env, STORE: stack.paths.cache, REPO: repo, IMAGE: image, TAG: String(i), TEST: testCommand },
    stdout: 'ignore',
    stderr: 'inherit',
  })
  if ((await p.exited) !== 0) throw new Error(`bare script run ${i} failed`)
  return performance.now() - t0
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] as number
}

await viaScript("warm")
await viaService("warm")
const svc: number[] = []
const scr: number[] = []
const ratios: number[] = []
for (let i = 0; i < runs; i++) {
  const a = await viaService(i)
  const b = await viaScript(i)
  svc.push(a)
  scr.push(b)
  ratios.push(a / b)
}
const fmt = (xs: number[]) => `median ${(median(xs) / 1000).toFixed(2)} s (min ${(Math.min(...xs) / 1000).toFixed(2)}, max ${(Math.max(...xs) / 1000).toFixed(2)})`
console.log(`hello-world build → test → publish, ${runs} runs each, alternating, warm cache`)
console.log(`  service (submit → SUCCEEDED): ${fmt(svc)}`)
console.log(`  bare buildah script:          ${fmt(scr)}`)
console.log(`  ratio service/script:         median ${median(ratios).toFixed(2)} (min ${Math.min(...ratios).toFixed(2)}, max ${Math.max(...ratios).toFixed(2)})`)
await service.cleanup({ all: true })
