// The dashboard's shared hooks: a clock for what grows while a build runs, and a loop that reloads data.
import { useEffect, useState } from 'preact/hooks'

/** The current time, every `ms` while `running`; the page's live durations and timeline bars grow with it. */
export function useNow(ms: number, running = true): number {
  const [now, setNow] = useState(Date.now())
  useEffect(() => {
    if (!running) return
    const timer = setInterval(() => setNow(Date.now()), ms)
    return () => clearInterval(timer)
  }, [ms, running])
  return now
}

/**
 * Calls `load` now, then `pause` ms after each answer (never two at once) until unmounted or `deps` change.
 * A hidden tab skips the calls: nobody is looking, and a list costs the server several Nomad reads.
 */
export function usePoll<T>(load: (signal: AbortSignal) => Promise<T>, pause: number, deps: unknown[]) {
  const [data, setData] = useState<T>()
  const [error, setError] = useState<unknown>()
  useEffect(() => {
    const stop = new AbortController()
    let timer: ReturnType<typeof setTimeout> | undefined
    const tick = async () => {
      if (!document.hidden) {
        try {
          const value = await load(stop.signal)
          if (stop.signal.aborted) return
          setData(value)
          setError(undefined)
        } catch (e) {
          if (stop.signal.aborted) return
          setError(e)
        }
      }
      timer = setTimeout(tick, pause)
    }
    tick()
    return () => {
      stop.abort()
      clearTimeout(timer)
    }
  }, deps)
  return { data, error }
}
