// Benchmark: uploaded sources. (1) The same 50 MB tree built from an upload and from a Git clone,
// alternating in one run; (2) upload throughput beside a plain local copy of the same archive;
// (3) the server's peak RSS while it takes a 200 MB upload (target: under 100 MB).
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { HttpBuildApi } from '../src/cli/http-client'
import { loadConfig } from '../src/config'
import { publishRepo } from '../src/dev/repos'
import { devServiceEnv, devStack, devUp, devUrls } from '../src/dev/stack'
import { createApp } from '../src/http/app'
import { createService } from '../src/service/index'

const runs = Number(process.env.BENCH_RUNS ?? 3)
const MB = 2 ** 20
const stack = devStack()
await devUp(stack, () => {})
const urls = devUrls(stack)
const serviceEnv = devServiceEnv(stack)
const work = mkdtempSync(join(tmpdir(), 'nbs-bench-source-'))
// The builds' uploads are fetched by the node from this process: it serves its own spool.
const appPort = 20000 + Math.floor(Math.random() * 20000)
const base = loadConfig({ ...process.env, ...serviceEnv })
const service = createService({ ...base, sources: { ...base.sources, dir: join(work, 'bench-spool'), advertiseUrl: `http://127.0.0.1:${appPort}` } })
const app = createApp(service).listen({ hostname: '127.0.0.1', port: appPort })
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
const sh = (script: string) => {
  const r = Bun.spawnSync(['/bin/sh', '-c', script], { stderr: 'inherit' })
  if (r.exitCode !== 0) throw new Error(`${script}: exit ${r.exitCode}`)
}
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`

// (1) A tree of 50 one-megabyte files that do not compress, and a Dockerfile that copies it.
const tree = join(work, 'tree')
mkdirSync(tree)
for (let i = 0; i < 50; i++) writeFileSync(join(tree, `blob-${i}`), crypto.getRandomValues(new Uint8Array(MB)))
writeFileSync(join(tree, 'Dockerfile'), 'FROM scratch\nCOPY . /src\n')
const repoName = `bench-source-${Date.now()}`
await publishRepo(stack.paths.git, repoName, tree)
const image = `${urls.registry}/bench/source`

async function build(label: string, request: Record<string, unknown>): Promise<number> {
  const t0 = performance.now()
  const { id } = await service.submitJob({ image, tags: [label], ...request })
  const st = await service.waitForJob({ id, until: 'final', timeoutSeconds: 600 })
  if (st.status !== 'SUCCEEDED') throw new Error(`${label}: ${st.status} ${st.failure?.message}`)
  return performance.now() - t0
}

async function fromUpload(i: number | string): Promise<number> {
  const t0 = performance.now()
  const archive = join(work, `tree-${i}.tar.gz`)
  sh(`tar -czf '${archive}' -C '${tree}' .`)
  const { source } = await service.uploadSource(Bun.file(archive), {})
  await build(`upload-${i}`, { source })
  rmSync(archive)
  return performance.now() - t0
}

const fromClone = (i: number | string) => build(`clone-${i}`, { repo: `${urls.git}/${repoName}` })

await fromUpload('warm')
await fromClone('warm')
const up: number[] = []
const clone: number[] = []
for (let i = 0; i < runs; i++) {
  up.push(await fromUpload(i))
  clone.push(await fromClone(i))
}
const ratios = up.map((u, i) => u / (clone[i] as number))
console.log(`50 MB tree (COPY . /src), ${runs} runs each, alternating, warm cache`)
console.log(`  pack + upload + build (submit → SUCCEEDED): median ${secs(median(up))}`)
console.log(`  Git clone + build (submit → SUCCEEDED):     median ${secs(median(clone))}`)
console.log(`  ratio upload/clone: median ${median(ratios).toFixed(2)} (min ${Math.min(...ratios).toFixed(2)}, max ${Math.max(...ratios).toFixed(2)})`)

// (2) and (3): a server of its own, so its peak RSS is this upload's alone.
const big = join(work, 'big')
mkdirSync(big)
for (let i = 0; i < 4; i++) sh(`head -c ${50 * MB} /dev/urandom > '${join(big, `blob-${i}`)}'`)
const bigTar = join(work, 'big.tar')
sh(`tar -cf '${bigTar}' -C '${big}' .`)
const size = Bun.file(bigTar).size
const port = 20000 + Math.floor(Math.random() * 20000)
const server = spawn(process.execPath, [resolve(import.meta.dir, '../src/cli/main.ts'), 'serve', '--insecure-no-auth', '--listen', `127.0.0.1:${port}`], {
  env: { ...process.env, ...serviceEnv, NBS_SOURCE_MAX_MB: '300', NBS_SOURCE_DIR: join(work, 'spool'), NBS_ADVERTISE_URL: `http://127.0.0.1:${port}` },
  stdio: 'ignore',
})
const url = `http://127.0.0.1:${port}`
for (let i = 0; i < 200 && !(await fetch(`${url}/readyz`).then((r) => r.ok, () => false)); i++) await Bun.sleep(100)
const hwm = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024
const before = hwm()
const api = new HttpBuildApi(url)
const uploads: number[] = []
const copies: number[] = []
for (let i = 0; i < runs; i++) {
  let t0 = performance.now()
  await api.uploadSource(Bun.file(bigTar).stream(), undefined, size)
  uploads.push(performance.now() - t0)
  t0 = performance.now()
  sh(`cp '${bigTar}' '${join(work, 'copy.tar')}' && sync -f '${join(work, 'copy.tar')}'`)
  copies.push(performance.now() - t0)
}
const peak = hwm()
server.kill()
const rate = (ms: number) => `${(size / MB / (ms / 1000)).toFixed(0)} MB/s`
console.log(`${(size / MB).toFixed(0)} MB tar, ${runs} uploads to a server of its own`)
console.log(`  upload (hash, check every entry, spool, announce): median ${secs(median(uploads))}, ${rate(median(uploads))}`)
console.log(`  local cp + sync of the same file:                   median ${secs(median(copies))}, ${rate(median(copies))}`)
console.log(`  ratio upload/copy: median ${(median(uploads) / median(copies)).toFixed(2)}`)
console.log(`  server peak RSS: ${peak.toFixed(0)} MB after the uploads (${before.toFixed(0)} MB before); target under 100 MB`)
await service.cleanup({ all: true })
await app.stop(true)
rmSync(work, { recursive: true, force: true })
