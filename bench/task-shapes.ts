// Benchmark: what the dev agent charges for a phase being its own task. The same three steps
// (0.5 s, 0.5 s, 0.2 s of work) as a build's job runs them, as lifecycle hooks (prestart → main →
// poststop); as three main tasks Nomad starts together, each waiting for the one before it to
// leave a mark in the alloc dir; and as one task. Prints submit → complete seen (a blocking query
// on the job's allocations) and first task start → last task end, medians side by side, from
// one run, alternating. Meant for a real Nomad (NBS_NOMAD_BIN), where each task start launches
// Nomad's logmon and executor plugins; nomadlite starts a task with one fork.
import { realNomad } from '../src/dev/nomad-agent'
import { devStack, devUp, devUrls } from '../src/dev/stack'

const runs = Number(process.env.BENCH_RUNS ?? 5)
const stack = devStack()
await devUp(stack, () => {})
const nomad = devUrls(stack).nomad

type Shape = 'lifecycle hooks' | 'main tasks together' | 'one task'
const work = { a: 0.5, b: 0.5, c: 0.2 }

const task = (name: string, seconds: number, after?: string) => ({
  Name: name,
  Driver: 'raw_exec',
  Config: {
    command: '/bin/sh',
    args: ['-c', `${after ? `while [ ! -e "$NOMAD_ALLOC_DIR/${after}.done" ]; do sleep 0.02; done; ` : ''}sleep ${seconds}; touch "$NOMAD_ALLOC_DIR/${name}.done"`],
  },
  Resources: { CPU: 100, MemoryMB: 64 },
})

function tasks(shape: Shape) {
  if (shape === 'one task') return [task('a', work.a + work.b + work.c)]
  if (shape === 'main tasks together') return [task('a', work.a), task('b', work.b, 'a'), task('c', work.c, 'b')]
  return [
    { ...task('a', work.a), Lifecycle: { Hook: 'prestart', Sidecar: false } },
    task('b', work.b),
    { ...task('c', work.c), Lifecycle: { Hook: 'poststop', Sidecar: false } },
  ]
}

interface TaskTimes {
  StartedAt: string
  FinishedAt: string
}

async function run(shape: Shape, i: number): Promise<{ total: number; span: number }> {
  const id = `bench-shape-${shape.replaceAll(' ', '-')}-${i}-${Date.now()}`
  const job = {
    ID: id,
    Name: id,
    Type: 'batch',
    Datacenters: ['*'],
    TaskGroups: [{ Name: 'g', Count: 1, RestartPolicy: { Attempts: 0, Mode: 'fail' }, ReschedulePolicy: { Attempts: 0, Unlimited: false }, Tasks: tasks(shape) }],
  }
  const t0 = Date.now()
  const registered = await fetch(`${nomad}/v1/jobs`, { method: 'POST', body: JSON.stringify({ Job: job }) })
  if (!registered.ok) throw new Error(`register ${id}: ${registered.status} ${await registered.text()}`)
  let index = 0
  for (;;) {
    const r = await fetch(`${nomad}/v1/job/${id}/allocations?index=${index}&wait=10s`)
    index = Number(r.headers.get('x-nomad-index'))
    const alloc = ((await r.json()) as { ClientStatus: string; TaskStates?: Record<string, TaskTimes> }[])[0]
    if (alloc?.ClientStatus === 'failed') throw new Error(`${id} failed`)
    if (alloc?.ClientStatus !== 'complete') continue
    const total = Date.now() - t0
    const states = Object.values(alloc.TaskStates ?? {})
    const span = Math.max(...states.map((s) => Date.parse(s.FinishedAt))) - Math.min(...states.map((s) => Date.parse(s.StartedAt)))
    await fetch(`${nomad}/v1/job/${id}?purge=true`, { method: 'DELETE' })
    return { total, span }
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
const shapes: Shape[] = ['lifecycle hooks', 'main tasks together', 'one task']
const results = new Map(shapes.map((s) => [s, { total: [] as number[], span: [] as number[] }]))
for (let i = 0; i < runs; i++)
  for (const shape of shapes) {
    const r = await run(shape, i)
    results.get(shape)!.total.push(r.total)
    results.get(shape)!.span.push(r.span)
  }
const ms = (x: number) => `${(x / 1000).toFixed(2)} s`
console.log(`agent: ${realNomad() ? `Nomad (${realNomad()})` : 'nomadlite'}; three steps of ${work.a + work.b + work.c} s of work, ${runs} runs each, alternating`)
console.log(`  ${'shape'.padEnd(22)} ${'submit → seen'.padStart(14)} ${'first start → last end'.padStart(23)}`)
for (const shape of shapes) {
  const r = results.get(shape)!
  console.log(`  ${shape.padEnd(22)} ${ms(median(r.total)).padStart(14)} ${ms(median(r.span)).padStart(23)}`)
}
