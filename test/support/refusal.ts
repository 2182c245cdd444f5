// The ServiceError a request is refused with; a request that is accepted fails the test.
import { ServiceError } from '../../src/errors'
import { validateRequest, type ValidationPolicy } from '../../src/jobs/validate'

export function refusal(input: unknown, policy: ValidationPolicy): ServiceError {
  try {
    validateRequest(input, policy)
  } catch (e) {
    if (e instanceof ServiceError) return e
    throw e
  }
  throw new Error(`accepted: ${JSON.stringify(input)}`)
}
