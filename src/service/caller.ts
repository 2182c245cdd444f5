// Who is asking, and whether they may start one more build now.
import type { Config } from '../config'
import { ServiceError } from '../errors'
import { JOB_PREFIX, META } from '../jobs/ids'
import type { NomadClient } from '../nomad/client'
import type { JobListStub } from '../nomad/types'
import { nomadCall } from './nomad-call'

/** Who is asking: jobs are tagged with their owner, and another owner's job does not exist for them. */
export interface Caller {
  owner?: string
  /** Secret reference prefixes this caller may use (from its client entry); the server default otherwise. */
  secretPrefixes?: readonly string[]
  /** Builds this caller may have queued or running at once (from its client entry); the server default otherwise. */
  maxInFlight?: number
}

// A hello-world build takes a few seconds; a retry sooner would only find the same builds running.
const RETRY_AFTER_SECONDS = 10

/**
 * The per-client limit on builds in flight. Two submissions racing can both pass it: it bounds
 * a burst, it is not a quota.
 */
export async function admit(nomad: NomadClient, config: Pick<Config, 'maxInFlight'>, caller: Caller, listed?: JobListStub[]): Promise<void> {
  const limit = caller.maxInFlight ?? config.maxInFlight
  if (!limit) return
  // Builds and runInImage's runs alike: both hold a node.
  const data = listed ?? (await nomadCall(() => nomad.jobs.list(JOB_PREFIX))).data
  const inFlight = data.filter((j) => j.Status !== 'dead' && !j.Stop && (!caller.owner || j.Meta?.[META.owner] === caller.owner)).length
  if (inFlight >= limit)
    throw new ServiceError(
      'too_many_requests',
      `${inFlight} of your builds are queued or running, and ${limit} at once is your limit: wait for one to finish (or kill one)`,
      undefined,
      undefined,
      RETRY_AFTER_SECONDS,
    )
}
