// `nbs dev up|down|status|env`: the embedded dev stack.
import type { Command } from 'commander'
import { devDown, devServiceEnv, devStack, devStatus, devUp, devUrls } from '../dev/stack'

const log = (m: string) => console.log(`dev: ${m}`)

export function registerDevCommands(program: Command): void {
  const dev = program.command('dev').description('The local dev stack: Nomad agent (or nomadlite), registry, Git server.')
  dev
    .command('up')
    .description('Start the dev stack (idempotent); installs missing Debian packages when run as root.')
    .action(async () => {
      const s = devStack()
      await devUp(s, log)
      const u = devUrls(s)
      console.log(`nomad ${u.nomad}\nregistry ${u.registry}\ngit ${u.git}\nstate ${s.paths.state}`)
    })
  dev
    .command('down')
    .description('Stop the dev stack; its state stays in the state directory.')
    .action(async () => devDown(devStack(), log))
  dev
    .command('status')
    .description('Show which dev stack processes run.')
    .action(async () => {
      const rows = await devStatus(devStack())
      for (const r of rows) console.log(`${r.name.padEnd(9)} ${r.ready ? 'ready' : r.pid ? 'starting' : 'stopped'}${r.pid ? ` (pid ${r.pid})` : ''}`)
      if (!rows.every((r) => r.ready)) process.exitCode = 1
    })
  dev
    .command('env')
    .description('Print the service settings that match the dev stack, as shell exports.')
    .action(() => {
      for (const [k, v] of Object.entries(devServiceEnv(devStack()))) console.log(`export ${k}=${JSON.stringify(v)}`)
    })
}
