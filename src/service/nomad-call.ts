// Nomad's failures as service errors: unreachable is 503-like, an unexpected answer carries Nomad's words.
import { ServiceError } from '../errors'
import { isNomadNotFound, NomadError, NomadUnreachableError } from '../nomad/error'

export async function nomadCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (e) {
    if (e instanceof NomadUnreachableError) throw new ServiceError('nomad_unavailable', e.message)
    if (isNomadNotFound(e)) throw new ServiceError('not_found', (e as NomadError).message)
    if (e instanceof NomadError) throw new ServiceError('nomad_error', e.message)
    throw e
  }
}

/** The same for a stream: what it yields passes through, a failure becomes a service error. */
export async function* nomadStream<T>(source: AsyncGenerator<T>): AsyncGenerator<T> {
  try {
    yield* source
  } catch (e) {
    await nomadCall(() => Promise.reject(e))
  }
}
