// The known name a typo most likely meant: "did you mean `commands`?" for test.command.

/**
 * Levenshtein distance, with a swap of two adjacent characters as one edit (optimal string alignment):
 * the fewest insertions, deletions, substitutions or swaps from a to b. "biuld" is one edit from "build".
 */
export function editDistance(a: string, b: string): number {
  // d[i][j]: the distance between a's first i characters and b's first j.
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)))
  const at = (i: number, j: number) => (d[i] as number[])[j] as number
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + (a[i - 1] === b[j - 1] ? 0 : 1))
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1)
      ;(d[i] as number[])[j] = best
    }
  return at(a.length, b.length)
}

/**
 * The known name closest to `name`, ignoring case, or undefined when none is close: within a third
 * of the shorter name's length (at least 1), so `bogus` suggests nothing rather than a guess.
 */
export function closestName(name: string, known: readonly string[]): string | undefined {
  let best: { name: string; distance: number } | undefined
  for (const k of known) {
    const distance = editDistance(name.toLowerCase(), k.toLowerCase())
    const bound = Math.max(1, Math.floor(Math.min(name.length, k.length) / 3))
    if (distance <= bound && (!best || distance < best.distance)) best = { name: k, distance }
  }
  return best?.name
}
