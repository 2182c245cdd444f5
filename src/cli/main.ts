#!/usr/bin/env bun
// nbs: the command line of Nomad Build Service.
import { Command, CommanderError } from 'commander'
import pkg from '../../package.json'
import { isServiceError } from '../errors'
import { registerBuilderCommands } from './builder-commands'
import { registerClientCommands } from './client-commands'
import { connect } from './connect'
import { registerDevCommands } from './dev-commands'
import { registerJobCommands } from './jobs-commands'
import { registerRunCommand } from './run-command'
import { registerServeCommands } from './serve-commands'
import { usageLineAfterErrors } from './usage'

const program = new Command('nbs')
  .description('Nomad Build Service: build, test and publish container images on Nomad.')
  .version(pkg.version)
  .option('--server <url>', 'server URL for the job commands (env NBS_SERVER; default http://127.0.0.1:8080)')

registerJobCommands(program, () => connect(program.opts().server))
registerRunCommand(program, () => connect(program.opts().server))
registerServeCommands(program)
registerDevCommands(program)
registerClientCommands(program)
registerBuilderCommands(program)
usageLineAfterErrors(program)

try {
  await program.parseAsync()
} catch (e) {
  if (e instanceof CommanderError) process.exit(e.exitCode)
  if (isServiceError(e)) {
    console.error(`nbs: ${e.message}`)
    process.exit(2)
  }
  console.error(`nbs: ${e instanceof Error ? e.message : String(e)}`)
  process.exit(1)
}
