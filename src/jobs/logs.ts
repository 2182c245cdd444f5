// Log slicing: the last N lines of a task's output, saying whether anything was left out.

export function sliceLines(text: string, lines: number, clipped: boolean): { text: string; truncated: boolean } {
  if (lines === 0) return { text, truncated: clipped }
  const all = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n')
  // A clipped read starts mid-line: its first line is a fragment.
  const whole = clipped && all.length > 1 ? all.slice(1) : all
  if (whole.length <= lines) return { text: whole.join('\n') + (text.endsWith('\n') ? '\n' : ''), truncated: clipped }
  return { text: whole.slice(-lines).join('\n') + (text.endsWith('\n') ? '\n' : ''), truncated: true }
}
