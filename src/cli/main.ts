#!/usr/bin/env bun
// nbs: the command line of Nomad Build Service.
import { Command, CommanderError } from 'commander'
import pkg from '../../package.json'
import { isServiceError } from '../errors'
import { registerDevCommands } from './dev-commands'
import { registerJobCommands } from './jobs-commands'

const program = new Command('nbs')
  .description('Nomad Build Service: build, test and publish container images on Nomad.')
  .version(pkg.version)
  .showHelpAfterError()

registerJobCommands(program)
registerDevCommands(program)

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
