// Typed service errors: a code for programs, a message for humans, the field at fault.

export type ErrorCode =
  | 'invalid_request'
  | 'not_found'
  | 'conflict'
  | 'unauthorized'
  | 'forbidden'
  | 'too_large'
  | 'unsupported_media_type'
  | 'too_many_requests'
  | 'insufficient_storage'
  | 'nomad_unavailable'
  | 'nomad_error'
  | 'server_unavailable'

const httpStatus: Record<ErrorCode, number> = {
  invalid_request: 400,
  not_found: 404,
  conflict: 409,
  unauthorized: 401,
  forbidden: 403,
  too_large: 413,
  unsupported_media_type: 415,
  too_many_requests: 429,
  insufficient_storage: 507,
  nomad_unavailable: 503,
  nomad_error: 502,
  server_unavailable: 503,
}

export class ServiceError extends Error {
  override readonly name = 'ServiceError'
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly field?: string,
    readonly details?: readonly { field: string; message: string }[],
    /** For too_many_requests: when to try again, in seconds (the Retry-After header). */
    readonly retryAfter?: number,
  ) {
    super(message)
  }

  get status(): number {
    return httpStatus[this.code]
  }

  toJSON() {
    return { code: this.code, message: this.message, field: this.field, details: this.details }
  }
}

export const isServiceError = (e: unknown): e is ServiceError => e instanceof ServiceError

export const invalid = (field: string, message: string) =>
  new ServiceError('invalid_request', `${field}: ${message}`, field)
