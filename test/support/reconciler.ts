// What the dev server's reconciler does is seen in Nomad a moment later: wait for it, bounded.
import { nomadJobId } from '../../src/jobs/ids'
import type { NomadClient } from '../../src/nomad/client'

/** True once Nomad shows the build's job stopped, false if it is not within `ms`. */
export async function stoppedByReconciler(nomad: NomadClient, id: string, ms = 20_000): Promise<boolean> {
  const deadline = Date.now() + ms
  for (;;) {
    if ((await nomad.jobs.info(nomadJobId(id))).data.Stop) return true
    if (Date.now() > deadline) return false
    await Bun.sleep(250)
  }
}
