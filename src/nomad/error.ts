// A Nomad answer the client did not expect: keeps what the server said, like api/error_unexpected_response.go.

export class NomadError extends Error {
  override readonly name = 'NomadError'
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly body: string,
    /** Set when the status was expected but the answer could not be read. */
    readonly problem?: string,
  ) {
    super(`Nomad ${method} ${path} answered ${status}${problem ? ` (${problem})` : ''}: ${body.trim().slice(0, 500)}`)
  }

  get notFound(): boolean {
    return this.status === 404
  }
}

/** Nomad could not be reached at all (connection refused, DNS, timeout). */
export class NomadUnreachableError extends Error {
  override readonly name = 'NomadUnreachableError'
  constructor(readonly address: string, cause: unknown) {
    super(`Nomad at ${address} is not reachable: ${cause instanceof Error ? cause.message : String(cause)}`)
  }
}

export const isNomadNotFound = (e: unknown): boolean => e instanceof NomadError && e.notFound
