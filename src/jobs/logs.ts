// Log slicing: the last N lines of a task's output (optionally only the lines a grep matches), saying whether anything was left out.
import { ServiceError } from '../errors'

export type LineMatch = (line: string) => boolean

export function sliceLines(text: string, lines: number, clipped: boolean, match?: LineMatch): { text: string; truncated: boolean } {
  if (lines === 0 && !match) return { text, truncated: clipped }
  const all = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n')
  // A clipped read starts mid-line: its first line is a fragment.
  const whole = clipped && all.length > 1 ? all.slice(1) : all
  const kept = match ? whole.filter(match) : whole
  const join = (ls: string[]) => (ls.length ? ls.join('\n') + (text.endsWith('\n') || match ? '\n' : '') : '')
  if (lines === 0 || kept.length <= lines) return { text: join(kept), truncated: clipped }
  return { text: join(kept.slice(-lines)), truncated: true }
}

// JavaScriptCore gives up on one runaway match after about half a second (measured: /(a+)+$/ on
// 32 or 36 a's both took 0.6 s), so a hostile pattern over a long log is bounded only by this.
const GREP_BUDGET_MS = 1000

/**
 * `grep` as a line test: "/re/flags" is a regular expression, anything else a substring matched
 * case-insensitively (agents write "error" and mean "Error:" too).
 */
export function grepMatcher(grep: string): LineMatch {
  const re = /^\/(.+)\/([a-z]*)$/s.exec(grep)
  if (!re) {
    const needle = grep.toLowerCase()
    return (line) => line.toLowerCase().includes(needle)
  }
  let regex: RegExp
  try {
    // g and y make test() remember where it stopped: a line test must not.
    regex = new RegExp(re[1] as string, (re[2] as string).replace(/[gy]/g, ''))
  } catch (e) {
    throw new ServiceError(
      'invalid_request',
      `grep: ${grep} is not a valid regular expression: ${(e as Error).message.replace(/^Invalid regular expression: /, '')}. Write /pattern/flags for a regular expression, or plain text for a substring`,
      'grep',
    )
  }
  const deadline = performance.now() + GREP_BUDGET_MS
  return (line) => {
    if (performance.now() > deadline)
      throw new ServiceError('invalid_request', `grep: ${grep} took more than ${GREP_BUDGET_MS / 1000} s over this log; use a simpler regular expression or plain text`, 'grep')
    return regex.test(line)
  }
}
