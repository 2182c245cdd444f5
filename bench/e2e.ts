// Benchmark: the service's submit → SUCCEEDED for examples/hello-world beside the bare
// git clone + buildah bud + buildah run + buildah push script doing the same work, run
// alternately in one process so the machine's drift hits both alike. Prints the ratio, and where
// the time goes: each stretch of the service's run (from the tasks' own start and finish times)
// beside the bare script's equivalent step, from the same runs. Then the same with three tests,
// as the demo has; and one test again with a new commit each run, which no step reads: the node
// has no image of that tree, so Buildah runs and takes every step from its cache (an unchanged
// tree reuses the node's image without Buildah: build.sh). BENCH_RUNS sets the runs of the
// one-test variants (default 7), BENCH_RUNS_3 those of the three-test one (default 3).
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { loadConfig } from '../src/config'
import { realNomad } from '../src/dev/nomad-agent'
import { publishRepo } from '../src/dev/repos'
import { devServiceEnv, devStack, devUp, devUrls } from '../src/dev/stack'
import { nomadJobId } from '../src/jobs/ids'
import type { JobStatus } from '../src/jobs/status-schema'
import { createService } from '../src/service/index'

const runs = Number(process.env.BENCH_RUNS ?? 7)
const runs3 = Number(process.env.BENCH_RUNS_3 ?? 3)
const stack = devStack()
await devUp(stack, () => {})
const urls = devUrls(stack)
const service = createService(loadConfig({ ...process.env, ...devServiceEnv(stack) }))
const hello = `${urls.git}/hello-world`
const image = `${urls.registry}/bench/hello-world`
const testCommand = 'test "$(cat /hello)" = hello-from-build'

/** Milliseconds of each named stretch of one run. */
type Stretches = Record<string, number>

const at = (iso: string | undefined) => (iso ? Date.parse(iso) : Number.NaN)

/** The service's stretches, from the tasks' times (Nomad's clock, the same host) and this process's. */
function serviceStretches(st: JobStatus, submitted: number, observed: number, told: { received: number; answered: number }): Stretches {
  const task = (name: string) => st.tasks.find((t) => t.task === name)
  const build = task('build')
  const tests = st.tasks.filter((t) => t.phase === 'test')
  const publish = task('publish')
  const out: Stretches = {
    'submit → build starts': at(build?.startedAt) - submitted,
    'build phase': at(build?.finishedAt) - at(build?.startedAt),
    'build end → tests start': Math.min(...tests.map((t) => at(t.startedAt))) - at(build?.finishedAt),
    'tests (start of first → end of last)': Math.max(...tests.map((t) => at(t.finishedAt))) - Math.min(...tests.map((t) => at(t.startedAt))),
    'tests end → publish starts': at(publish?.startedAt) - Math.max(...tests.map((t) => at(t.finishedAt))),
    'publish phase': at(publish?.finishedAt) - at(publish?.startedAt),
    'publish end → SUCCEEDED seen': observed - at(publish?.finishedAt),
    '  Nomad: client → server': told.received - at(publish?.finishedAt),
    '  Nomad: server → query answered': told.answered - told.received,
    '  service: answer → status': observed - told.answered,
  }
  return out
}

/**
 * When Nomad told of the build's end: the server's receipt of the client's report (the allocation's
 * ModifyTime, which Nomad's Node.UpdateAlloc stamps; nomadlite stamps its own change), and the answer
 * to a blocking query like the service's, asked beside it. They split the end's latency into the
 * client's batching and the server's commit, which Nomad owns, and the service's reads after the answer.
 */
async function nomadToldEnd(id: string): Promise<{ received: number; answered: number }> {
  let index = 0
  for (;;) {
    const res = await fetch(`${urls.nomad}/v1/job/${nomadJobId(id)}/allocations?index=${index}&wait=5s`)
    const answered = Date.now()
    index = Number(res.headers.get('X-Nomad-Index'))
    const allocs = (await res.json()) as { ClientStatus: string; ModifyTime: number }[]
    if (allocs.length > 0 && allocs.every((a) => a.ClientStatus === 'complete' || a.ClientStatus === 'failed'))
      return { received: Math.max(...allocs.map((a) => a.ModifyTime / 1e6)), answered }
  }
}

/** hello-world with a NOTES file that says `i`: a new commit and tree, the same steps. */
async function newCommit(i: number | string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'nbs-bench-'))
  cpSync(resolve(import.meta.dir, '../examples/hello-world'), dir, { recursive: true })
  writeFileSync(join(dir, 'NOTES'), `bench run ${i} at ${Date.now()}\n`)
  await publishRepo(stack.paths.git, 'bench-new-commit', dir, `bench run ${i}`)
  rmSync(dir, { recursive: true, force: true })
  return `${urls.git}/bench-new-commit`
}

async function viaService(repo: string, i: number | string, tests: number): Promise<{ ms: number; stretches: Stretches }> {
  const t0 = performance.now()
  const submitted = Date.now()
  const { id } = await service.submitJob({ repo, image, tags: [`svc-${i}`], test: { commands: Array(tests).fill(testCommand) } })
  const told = nomadToldEnd(id)
  const st = await service.waitForJob({ id, until: 'final', timeoutSeconds: 300 })
  const observed = Date.now()
  if (st.status !== 'SUCCEEDED') throw new Error(`service run ${i}: ${st.status} ${st.failure?.message}`)
  return { ms: performance.now() - t0, stretches: serviceStretches(st, submitted, observed, await told) }
}

// The same store, flags and steps the job's tasks use, in one shell script; overlay is the driver
// the build's probe picks for root on this kernel (prepare_store in jobspecs/tasks/common.sh).
// Each step prints its end time, so the script's own stretches come from the same run.
const bare = `set -e
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
mark() { echo "$1 $(date +%s%N)"; }
B="buildah --root $STORE/storage --runroot $STORE/run --storage-driver overlay"
mark start
git clone -q --depth 1 "$REPO" "$W/src"
$B bud -q --isolation chroot --layers -f "$W/src/Dockerfile" -t "localhost/bench/bare:$TAG" "$W/src" >/dev/null
mark built
for t in $(seq "$TESTS"); do
  C=$($B from --pull-never "localhost/bench/bare:$TAG")
  $B run --isolation chroot "$C" -- /bin/sh -c "$TEST"
  $B rm "$C" >/dev/null
done
mark tested
$B push -q --tls-verify=false --digestfile "$W/digest" "localhost/bench/bare:$TAG" "docker://$IMAGE:bare-$TAG"
mark pushed
$B rmi "localhost/bench/bare:$TAG" >/dev/null
`

async function viaScript(repo: string, i: number | string, tests: number): Promise<{ ms: number; stretches: Stretches }> {
  const t0 = performance.now()
  const p = Bun.spawn(['/bin/sh', '-c', bare], {
    env: { ...process.env, STORE: stack.paths.cache, REPO: repo, IMAGE: image, TAG: String(i), TEST: testCommand, TESTS: String(tests) },
    stdout: 'pipe',
    stderr: 'inherit',
  })
  const [out, code] = await Promise.all([new Response(p.stdout).text(), p.exited])
  if (code !== 0) throw new Error(`bare script run ${i} failed`)
  const ms = performance.now() - t0
  const marks = Object.fromEntries(out.trim().split('\n').map((l) => l.split(' ')).map(([k, v]) => [k, Number(v) / 1e6]))
  return {
    ms,
    stretches: {
      'build phase': marks.built - marks.start,
      'tests (start of first → end of last)': marks.tested - marks.built,
      'publish phase': marks.pushed - marks.tested,
    },
  }
}

const median = (xs: number[]) => {
  const s = [...xs].filter((x) => !Number.isNaN(x)).sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] as number
}
const secs = (ms: number | undefined) => (ms === undefined || Number.isNaN(ms) ? '—' : `${(ms / 1000).toFixed(2)} s`)

async function variant(what: string, tests: number, n: number, repoOf: (i: number) => Promise<string> | string): Promise<number[]> {
  const svc: { ms: number; stretches: Stretches }[] = []
  const scr: { ms: number; stretches: Stretches }[] = []
  const ratios: number[] = []
  for (let i = 0; i < n; i++) {
    const repo = await repoOf(i)
    const a = await viaService(repo, `${tests}-${i}`, tests)
    const b = await viaScript(repo, `${tests}-${i}`, tests)
    svc.push(a)
    scr.push(b)
    ratios.push(a.ms / b.ms)
  }
  const fmt = (xs: number[]) => `median ${secs(median(xs))} (min ${secs(Math.min(...xs))}, max ${secs(Math.max(...xs))})`
  console.log(`\nhello-world build → ${tests} test(s) → publish, ${n} runs each, alternating, warm cache, ${what}`)
  console.log(`  service (submit → SUCCEEDED): ${fmt(svc.map((r) => r.ms))}`)
  console.log(`  bare buildah script:          ${fmt(scr.map((r) => r.ms))}`)
  console.log(`  ratio service/script:         median ${median(ratios).toFixed(2)} (min ${Math.min(...ratios).toFixed(2)}, max ${Math.max(...ratios).toFixed(2)})`)
  console.log('  where the time goes (medians):')
  console.log(`    ${'stretch'.padEnd(40)} ${'service'.padStart(8)} ${'bare'.padStart(8)}`)
  for (const name of Object.keys(svc[0]?.stretches ?? {})) {
    const s = median(svc.map((r) => r.stretches[name] as number))
    const b = scr[0]?.stretches[name] === undefined ? undefined : median(scr.map((r) => r.stretches[name] as number))
    console.log(`    ${name.padEnd(40)} ${secs(s).padStart(8)} ${secs(b).padStart(8)}`)
  }
  return ratios
}

await viaScript(hello, 'warm', 1)
await viaService(hello, 'warm', 1)
const agent = realNomad() ? `Nomad (${realNomad()})` : 'nomadlite'
console.log(`agent: ${agent}`)
await variant('the same commit (the node reuses its image)', 1, runs, () => hello)
await variant('the same commit (the node reuses its image)', 3, runs3, () => hello)
await variant('a new commit each run (Buildah runs, every step from its cache)', 1, runs, newCommit)
await service.cleanup({ all: true })
