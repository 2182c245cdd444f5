// After a usage error (an unknown flag, a missing argument), one usage line of the command, not its whole help.
import type { Command } from 'commander'

/** "nbs dev up": the command as typed, from the program down. */
export function commandPath(cmd: Command): string {
  const names: string[] = []
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name())
  return names.join(' ')
}

/**
 * Sets, on `cmd` and every command under it, what commander prints after a usage error: the
 * command's usage line and where its help is. The whole help buried the error above a screen of options.
 */
export function usageLineAfterErrors(cmd: Command): void {
  const path = commandPath(cmd)
  cmd.showHelpAfterError(`usage: ${path} ${cmd.usage()}\n(see ${path} --help)`)
  for (const sub of cmd.commands) usageLineAfterErrors(sub)
}
