// `nbs dev up|down|status|env`: the embedded dev stack.
import type { Command } from 'commander'
import { devDown, devShellEnv, devStack, devStatus, devUp, devUrls, serverComponent } from '../dev/stack'

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
    .description('Show which dev stack processes run.')
    .action(async () => {
      const rows = await devStatus(devStack(), extra())
      for (const r of rows)
        console.log(`${r.name.padEnd(9)} ${r.ready ? 'ready' : r.pid ? 'starting' : 'stopped'}${r.pid ? ` (pid ${r.pid})` : ''}${r.problem ? `: ${r.problem}` : ''}`)
      if (!rows.every((r) => r.ready)) process.exitCode = 1
    })
  dev
    .command('env')
    .description('Print, as shell exports, the settings that match the dev stack: the service\'s, NBS_SERVER for the CLI, NBS_DEV_GIT and NBS_DEV_REGISTRY for request files.')
    .action(() => {
      for (const [k, v] of Object.entries(devShellEnv(devStack()))) console.log(`export ${k}=${JSON.stringify(v)}`)
    })
}
