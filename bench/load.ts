// Benchmark: 40 submits at once on the dev stack. Prints accepted, succeeded and failed counts,
// the wall time, getStatus latency (p50/p99) while they run, and the peak RSS of the dev server
// and the Nomad agent, from one run.
import { readFileSync } from 'node:fs'
import { loadConfig } from '../src/config'
import { runningPid } from '../src/dev/process'
import { devServiceEnv, devStack, devUp, devUrls } from '../src/dev/stack'
import { HttpBuildApi } from '../src/cli/http-client'

const count = Number(process.env.BENCH_JOBS ?? 40)
const stack = devStack()
await devUp(stack, () => {})
const urls = devUrls(stack)
// Through the dev server, so that its own memory is what a client's burst costs.
const api = new HttpBuildApi(loadConfig({ ...process.env, ...devServiceEnv(stack) }).serverUrl)
const peakRssMB = (pid: number | undefined) =>
  pid ? Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024 : Number.NaN

const t0 = performance.now()
const submitted = await Promise.allSettled(
  Array.from({ length: count }, () => api.submitJob({ repo: `${urls.git}/hello-world`, image: `${urls.registry}/bench/load`, test: { commands: ['true'] } })),
)
const ids = submitted.flatMap((s) => (s.status === 'fulfilled' ? [s.value.id] : []))
const latencies: number[] = []
const final = new Map<string, string>()
while (final.size < ids.length) {
  for (const id of ids.filter((i) => !final.has(i))) {
    const s0 = performance.now()
    const st = await api.getStatus(id)
    latencies.push(performance.now() - s0)
    if (st.status === 'SUCCEEDED' || st.status === 'FAILED') final.set(id, st.status)
  }
}
const wall = (performance.now() - t0) / 1000
const pct = (p: number) => [...latencies].sort((a, b) => a - b)[Math.min(latencies.length - 1, Math.floor((latencies.length * p) / 100))]!
const outcomes = [...final.values()]
console.log(`${count} submits at once through the dev server`)
console.log(`  accepted ${ids.length}, succeeded ${outcomes.filter((o) => o === 'SUCCEEDED').length}, failed ${outcomes.filter((o) => o === 'FAILED').length}`)
console.log(`  wall time ${wall.toFixed(1)} s`)
console.log(`  getStatus while they ran: p50 ${pct(50).toFixed(0)} ms, p99 ${pct(99).toFixed(0)} ms (${latencies.length} calls)`)
console.log(`  peak RSS: server ${peakRssMB(runningPid(stack.paths.state, 'server')).toFixed(1)} MB, agent ${peakRssMB(runningPid(stack.paths.state, 'nomad')).toFixed(1)} MB`)
