// Edit distance and the closest known name, for "did you mean" suggestions.
import { describe, expect, test } from 'bun:test'
import { closestName, editDistance } from '../../src/jobs/similar'

describe('editDistance', () => {
  test.each([
    ['', '', 0],
    ['', 'abc', 3],
    ['command', 'commands', 1],
    ['kitten', 'sitting', 3],
    ['biuld', 'build', 1],
    ['ab', 'ba', 1],
    ['abc', 'ca', 3],
  ])('%s → %s: %d', (a, b, d) => {
    expect(editDistance(a, b)).toBe(d)
    expect(editDistance(b, a)).toBe(d)
  })
})

describe('closestName', () => {
  const known = ['commands', 'entrypoint', 'env', 'timeout', 'gpus']
  test('the nearest within a third of the length, ignoring case', () => {
    expect(closestName('command', known)).toBe('commands')
    expect(closestName('timeot', known)).toBe('timeout')
    expect(closestName('ENV', known)).toBe('env')
  })
  test('nothing close: undefined rather than a guess', () => {
    expect(closestName('network', known)).toBeUndefined()
    expect(closestName('x', known)).toBeUndefined()
    expect(closestName('gpu', [])).toBeUndefined()
  })
})
