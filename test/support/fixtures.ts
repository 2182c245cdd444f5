// Recorded answers of a real Nomad 2.0.5 agent (test/fixtures/nomad-2.0.5), read as data.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

const root = join(import.meta.dir, '../fixtures/nomad-2.0.5')

export const fixture = <T = any>(scenario: string, file: string): T => {
  const value = JSON.parse(readFileSync(join(root, scenario, file), 'utf8'))
  // Recorded request answers are wrapped as {status, body}.
  return (file.startsWith('cat-') || file.startsWith('register') ? value.body : value) as T
}
