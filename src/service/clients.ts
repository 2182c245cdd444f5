// Client authentication: bearer tokens from config, stored as SHA-256 hashes, compared in constant time.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { type Static, Type as t } from '@sinclair/typebox'
import { ServiceError } from '../errors'
import { schemaErrors } from '../jobs/validate'
import type { Caller } from './build-service'

export const ClientEntry = t.Object(
  {
    name: t.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,62}$', description: 'Owner name the jobs of this client are tagged with.' }),
    tokenSha256: t.String({ pattern: '^[0-9a-f]{64}$', description: 'SHA-256 of the bearer token, hex.' }),
    secretPrefixes: t.Array(t.String({ minLength: 1 }), { description: 'Secret reference prefixes this client may use.' }),
    maxInFlight: t.Optional(
      t.Integer({ minimum: 1, description: 'Builds this client may have queued or running at once; more answer 429 (default: NBS_MAX_IN_FLIGHT, else no limit).' }),
    ),
  },
  { additionalProperties: false },
)
export const ClientsFile = t.Object({ clients: t.Array(ClientEntry) }, { additionalProperties: false })
export type ClientEntry = Static<typeof ClientEntry>

const sha256 = (s: string) => createHash('sha256').update(s).digest()

export class Clients {
  private readonly entries: { entry: ClientEntry; hash: Buffer }[]

  constructor(entries: ClientEntry[]) {
    this.entries = entries.map((entry) => ({ entry, hash: Buffer.from(entry.tokenSha256, 'hex') }))
  }

  static parse(json: unknown, source = 'clients file'): Clients {
    const errors = schemaErrors(ClientsFile, json)
    if (errors.length)
      throw new ServiceError('invalid_request', `${source}: ${errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`, errors[0]?.field)
    return new Clients((json as Static<typeof ClientsFile>).clients)
  }

  static load(path: string): Clients {
    return Clients.parse(JSON.parse(readFileSync(path, 'utf8')), path)
  }

  /** The caller a bearer token stands for; every entry is compared so timing tells nothing. */
  authenticate(authorization: string | null | undefined): Caller {
    const token = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1]
    if (!token) throw new ServiceError('unauthorized', 'authorization: a bearer token is required (Authorization: Bearer <token>)', 'authorization')
    const hash = sha256(token)
    let found: ClientEntry | undefined
    for (const { entry, hash: known } of this.entries) if (timingSafeEqual(hash, known)) found = entry
    if (!found) throw new ServiceError('unauthorized', 'authorization: the bearer token is not valid', 'authorization')
    return callerOf(found)
  }

  /** The caller an entry stands for, by name: a local process that serves one client (`nbs mcp --stdio --as`). */
  byName(name: string): Caller | undefined {
    const found = this.entries.find(({ entry }) => entry.name === name)
    return found && callerOf(found.entry)
  }

  get names(): string[] {
    return this.entries.map(({ entry }) => entry.name)
  }
}

const callerOf = (entry: ClientEntry): Caller => ({ owner: entry.name, secretPrefixes: entry.secretPrefixes, maxInFlight: entry.maxInFlight })

/** A new random token and the entry that admits it (the token itself is never stored). */
export function newClient(name: string, secretPrefixes: string[]): { token: string; entry: ClientEntry } {
  const token = `nbs_${randomBytes(24).toString('base64url')}`
  return { token, entry: { name, tokenSha256: sha256(token).toString('hex'), secretPrefixes } }
}
