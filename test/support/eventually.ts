// The one way tests wait for something another process does: poll, bounded, and say what never came.

/** Resolves with the first truthy value `probe` gives; throws naming `what` once `timeoutMs` has passed. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = 30_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value) return value
    } catch (e) {
      last = e
    }
    if (Date.now() >= deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s${last ? ` (last error: ${last instanceof Error ? last.message : String(last)})` : ''}`)
    await Bun.sleep(everyMs)
  }
}
