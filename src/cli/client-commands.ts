// `nbs client new`: a client token for the server's clients file; only its hash is kept there.
import type { Command } from 'commander'
import { newClient } from '../service/clients'

const collect = (v: string, acc: string[] = []) => [...acc, v]

export function registerClientCommands(program: Command): void {
  program
    .command('client')
    .description("Client tokens for `nbs serve --clients FILE`.")
    .command('new <name>')
    .description('Make a token for a client; prints the token (give it to the client) and the entry to add to the clients file.')
    .option('--secret-prefix <prefix>', 'a secret reference prefix this client may use, e.g. vault:kv/data/nbs/team-a/ (repeatable)', collect)
    .action((name: string, o: { secretPrefix?: string[] }) => {
      const { token, entry } = newClient(name, o.secretPrefix ?? [])
      console.log(`token (shown once; the server keeps only its hash): ${token}`)
      console.log(`entry for the "clients" array of the clients file:\n${JSON.stringify(entry, null, 2)}`)
    })
}
