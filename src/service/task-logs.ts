// A task's log as a caller reads it: stdout then stderr, optionally only the last bytes.
import type { NomadClient } from '../nomad/client'

export async function taskLog(nomad: NomadClient, allocId: string, task: string, tailBytes?: number): Promise<{ text: string; clipped: boolean }> {
  const opts = tailBytes === undefined ? {} : { tailBytes }
  const [out, err] = await Promise.all((['stdout', 'stderr'] as const).map((type) => nomad.fs.logs(allocId, task, type, opts).catch(() => '')))
  const text = (out ?? '') + (err ? `${out && !out.endsWith('\n') ? '\n' : ''}${err}` : '')
  return { text, clipped: tailBytes !== undefined && ((out?.length ?? 0) >= tailBytes || (err?.length ?? 0) >= tailBytes) }
}
