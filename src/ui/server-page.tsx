// /ui/server: what /v1/info says this server accepts, and the queue (builds PENDING, with what each waits for).
import type { ServerInfo } from '../service/schemas'
import { getInfo, listJobs } from './api'
import { ErrorNote } from './common'
import { ago, duration } from './format'
import { useNow, usePoll } from './hooks'
import { LIST_PAUSE_MS } from './list-page'

export function ServerPage() {
  const info = usePoll(() => getInfo(), 60_000, [])
  const queue = usePoll(() => listJobs('PENDING'), LIST_PAUSE_MS, [])
  const now = useNow(1000)
  const pending = queue.data?.jobs
  return (
    <>
      <section aria-labelledby="queue-title">
        <h1 id="queue-title">Queue</h1>
        <ErrorNote error={queue.error} />
        {pending && pending.length === 0 && <p class="muted">Nothing is waiting.</p>}
        {pending && pending.length > 0 && (
          <ul class="queue-list">
            {pending.map((j) => (
              <li key={j.id} data-job={j.id}>
                <a href={`/ui/jobs/${encodeURIComponent(j.id)}`} class="mono">
                  {j.id}
                </a>{' '}
                <span class="muted">
                  {j.image}, submitted {ago(j.createdAt, now)}
                </span>
                <div class="queue">{j.queue ? `waiting for ${j.queue.waitingFor} (pool ${j.queue.nodePool})` : 'being placed'}</div>
              </li>
            ))}
          </ul>
        )}
      </section>
      <ErrorNote error={info.error} />
      {info.data && <InfoView info={info.data} />}
    </>
  )
}

function InfoView({ info }: { info: ServerInfo }) {
  const l = info.limits
  const d = info.defaults
  const list = (xs: string[], none: string) => (xs.length ? xs.map((x) => <code key={x}>{x} </code>) : <span class="muted">{none}</span>)
  return (
    <section aria-labelledby="server-title">
      <h2 id="server-title">Server</h2>
      <dl class="request">
        <dt>Version</dt>
        <dd>{info.version}</dd>
        <dt>Profile</dt>
        <dd>{info.profile}</dd>
        <dt>Repositories</dt>
        <dd>{list(info.repo.forms, 'none')}</dd>
        <dt>Plain-HTTP registries</dt>
        <dd>{list(info.registries.insecure, 'none: every push uses TLS')}</dd>
        <dt>Your secret prefixes</dt>
        <dd>{list(info.secrets.prefixes, 'none: requests may name no secrets')}</dd>
        {info.gpuNodePool && (
          <>
            <dt>GPU node pool</dt>
            <dd>{info.gpuNodePool}</dd>
          </>
        )}
      </dl>
      <h3>Limits</h3>
      <dl class="request">
        <dt>Request</dt>
        <dd>
          {l.requestBytes / 1024} KiB as JSON; body {l.bodyBytes / 1024} KiB
        </dd>
        <dt>Per request</dt>
        <dd>
          {l.testCommands} test commands, {l.tags} tags, {l.buildArgs} build args, {l.testEnv} test env vars, {l.gpus} GPUs
        </dd>
        <dt>Phase time limit</dt>
        <dd>
          up to {duration(l.phaseSeconds * 1000)} (defaults: build {duration(d.timeouts.build * 1000)}, each test{' '}
          {duration(d.timeouts.test * 1000)}, publish {duration(d.timeouts.publish * 1000)})
        </dd>
        <dt>CPU per task</dt>
        <dd>
          {l.cpu.minimum}–{l.cpu.maximum} MHz (default {d.resources.cpu})
        </dd>
        <dt>Memory per task</dt>
        <dd>
          {l.memory.minimum}–{l.memory.maximum} MB (default {d.resources.memory})
        </dd>
        <dt>Builds in flight</dt>
        <dd>{l.maxInFlight ?? 'no limit'}</dd>
        <dt>Wait</dt>
        <dd>
          up to {l.waitSeconds} s (default {d.waitSeconds} s)
        </dd>
      </dl>
    </section>
  )
}
