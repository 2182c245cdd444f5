// How the dashboard words times, durations and where a build's source came from.

/** "4.2 s", "3 min 12 s", "30 min", "1 h 05 min". */
export function duration(ms: number): string {
  if (ms < 0) ms = 0
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`
  const s = Math.round(ms / 1000)
  if (s < 60) return `${s} s`
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${String(s % 60).padStart(2, '0')} s` : ''}`
  const m = Math.floor((s % 3600) / 60)
  return `${Math.floor(s / 3600)} h${m ? ` ${String(m).padStart(2, '0')} min` : ''}`
}

/** "12 s ago", "5 min ago", or the date for anything older than a day. */
export function ago(iso: string, now: number): string {
  const ms = now - Date.parse(iso)
  if (ms < 60_000) return `${Math.max(0, Math.round(ms / 1000))} s ago`
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ago`
  if (ms < 86_400_000) return `${Math.floor(ms / 3_600_000)} h ago`
  return new Date(iso).toLocaleDateString()
}

export const localTime = (iso: string) => new Date(iso).toLocaleString()

/** From submission to the end, or until now while it runs. */
export const elapsed = (job: { createdAt: string; finishedAt?: string }, now: number) =>
  (job.finishedAt ? Date.parse(job.finishedAt) : now) - Date.parse(job.createdAt)

/**
 * A Git repository and its ref, or an uploaded source. Typed structurally: a request carries `repo`, or (with
 * uploads) `source: "sha256:…"` instead.
 */
export function origin(r: { repo?: string; source?: string; ref?: string }): string {
  if (r.source) return `upload ${r.source.slice(0, 'sha256:'.length + 12)}`
  return r.ref ? `${r.repo} @ ${r.ref}` : (r.repo ?? '')
}
