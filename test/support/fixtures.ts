// Recorded answers of a real Nomad 2.0.5 agent (test/fixtures/nomad-2.0.5), read as data.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

const root = join(import.meta.dir, '../fixtures/nomad-2.0.5')

export const fixture = <T = any>(scenario: string, file: string): T => {
  const value = JSON.parse(readFileSync(join(root, scenario, file), 'utf8'))
  // Recorded request answers are wrapped as {status, body}.
  return (file.startsWith('cat-') || file.startsWith('register') ? value.body : value) as T
}

const buildah = join(import.meta.dir, '../fixtures/buildah-1.28')

/** What a real build printed and what the dev stack's Nomad answered for it (test/support/record-causes.ts). */
export const recorded = <T = any>(scenario: string, file: string): T => {
  const text = readFileSync(join(buildah, scenario, file), 'utf8')
  return (file.endsWith('.json') ? JSON.parse(text) : text) as T
}
