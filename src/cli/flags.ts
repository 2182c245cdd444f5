// Server refusals in the CLI's own words: the server names query.limit or resources.cpu, the user typed --limit or --cpu.
import { InvalidArgumentError, Option } from 'commander'
import { isServiceError, ServiceError } from '../errors'

/** A field as the server names it → the flag or argument that set it. */
export type FlagNames = Record<string, string>

/** The flag for a field, or for the field it is part of: tags[1] was set by --tag, buildArgs.A by --build-arg. */
function flagOf(field: string, names: FlagNames): string | undefined {
  for (let f = field; ; ) {
    if (names[f]) return names[f]
    const parent = f.replace(/(?:\[\d+\]|\.[^.[\]]*)$/, '')
    if (parent === f) return undefined
    f = parent
  }
}

/** Runs `call`; an invalid_request it throws comes back naming the CLI's flags instead of the server's fields. */
export async function inFlagWords<T>(names: FlagNames, call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (e) {
    if (!isServiceError(e) || e.code !== 'invalid_request') throw e
    const details = e.details ?? (e.field ? [{ field: e.field, message: e.message.replace(`${e.field}: `, '') }] : [])
    if (!details.some((d) => flagOf(d.field, names))) throw e
    const renamed = details.map((d) => ({ field: flagOf(d.field, names) ?? d.field, message: d.message }))
    throw new ServiceError(e.code, renamed.map((d) => `${d.field}: ${d.message}`).join('; '), renamed[0]?.field, renamed)
  }
}

/**
 * An option that takes one of `values`, in any case: `--status failed` is FAILED. commander's own
 * choices() compares exactly; its list stays for the help and the refusal.
 */
export function oneOf(flags: string, description: string, values: readonly string[]): Option {
  return new Option(flags, description).choices(values).argParser((arg: string) => {
    const value = values.find((v) => v.toLowerCase() === arg.toLowerCase())
    if (value === undefined) throw new InvalidArgumentError(`Allowed choices are ${values.join(', ')}.`)
    return value
  })
}

/** commander's argument parser for whole numbers: its refusal names the flag ("option '--cpu <mhz>' argument 'abc' is invalid"). */
export function wholeNumber(v: string): number {
  const n = Number(v)
  if (v.trim() === '' || !Number.isInteger(n)) throw new InvalidArgumentError('expected a whole number.')
  return n
}
