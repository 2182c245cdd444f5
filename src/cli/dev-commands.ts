// `nbs dev up|down|status|env`: the embedded dev stack.
import type { Command } from 'commander'
import { baseImages, baseImageState } from '../dev/base-images'
import { devDown, devShellEnv, devStack, devStatus, devUp, devUrls, serverComponent, stackProfile } from '../dev/stack'

const log = (m: string) => console.log(`dev: ${m}`)

// The server is a dev-stack component too, started last (it needs Nomad ready).
const extra = () => [serverComponent()]

export function registerDevCommands(program: Command): void {
  const dev = program.command('dev').description('The local dev stack: Nomad agent (or nomadlite), registry, Git server, nbs server.')
  dev
    .command('up')
    .description('Start the dev stack (idempotent); installs missing Debian packages when run as root.')
    .option('--switch', 'when the stack runs the other profile (NBS_DEV_PROFILE), stop it first instead of refusing')
    .action(async (o: { switch?: boolean }) => {
      const s = devStack()
      await devUp(s, log, extra(), o.switch)
      const u = devUrls(s)
      console.log(`nomad ${u.nomad}\nregistry ${u.registry}\ngit ${u.git}\nserver ${u.server}\nstate ${s.paths.state}`)
    })
  dev
    .command('down')
    .description('Stop the dev stack; its state stays in the state directory.')
    .action(async () => devDown(devStack(), log, extra()))
  dev
    .command('status')
    .description('Show what the dev stack runs: its profile, each process and its address, and the base images in its registry. Exits 1 unless all are there.')
    .action(async () => {
      const s = devStack()
      const rows = await devStatus(s, extra())
      const running = stackProfile(s)
      const asked = running && running !== s.profile ? ` (NBS_DEV_PROFILE asks for ${s.profile}: nbs dev up --switch)` : ''
      console.log(`${'profile'.padEnd(9)} ${running ?? s.profile}${asked}, state ${s.paths.state}`)
      const addresses: Record<string, string | undefined> = { ...devUrls(s), docker: s.docker?.host }
      for (const r of rows) {
        const state = r.ready ? 'ready' : r.pid ? 'starting' : 'stopped'
        const pid = r.pid ? ` (pid ${r.pid})` : ''
        console.log(`${r.name.padEnd(9)} ${r.problem ? `${state}${pid}: ${r.problem}` : `${state.padEnd(9)}${addresses[r.name] ?? ''}${pid}`}`)
      }
      const registry = rows.find((r) => r.name === 'registry')
      const images = registry?.ready ? await Promise.all(baseImages.map((i) => baseImageState(devUrls(s).registry, i))) : []
      console.log(registry?.ready ? 'base images (FROM them with no other registry):' : 'base images: unknown, the registry is not running')
      for (const i of images)
        console.log(`  ${i.ref.padEnd(46)} ${!i.digest ? 'missing: nbs dev up builds it' : i.current ? i.digest : `${i.digest}, an older definition: nbs dev up replaces it`}`)
      if (!rows.every((r) => r.ready) || !registry?.ready || !images.every((i) => i.current)) process.exitCode = 1
    })
  dev
    .command('env')
    .description('Print, as shell exports, the settings that match the dev stack: the service\'s, NBS_SERVER for the CLI, NBS_DEV_GIT and NBS_DEV_REGISTRY for request files.')
    .action(() => {
      // Without NBS_DEV_PROFILE the running stack's profile is the one to describe (its DOCKER_HOST).
      const asked = devStack()
      const running = stackProfile(asked)
      const s = !process.env.NBS_DEV_PROFILE && running && running !== asked.profile ? devStack({ ...process.env, NBS_DEV_PROFILE: running }) : asked
      for (const [k, v] of Object.entries(devShellEnv(s))) console.log(`export ${k}=${JSON.stringify(v)}`)
    })
}
