import { describe, expect, test } from 'bun:test'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { builderRef, builderTag, definitionFiles } from '../../src/builder/definition'

describe('the builder image definition', () => {
  test('every file of images/builder/ is part of the definition, so each one changes the tag', () => {
    expect(Object.keys(definitionFiles).sort()).toEqual(readdirSync(join(import.meta.dir, '../../images/builder')).sort())
  })

  test('the tag is a hash of names and contents: stable, and changed by any edit', () => {
    expect(builderTag()).toMatch(/^[0-9a-f]{16}$/)
    expect(builderTag({ ...definitionFiles })).toBe(builderTag())
    expect(builderTag({ ...definitionFiles, 'packages.txt': `${definitionFiles['packages.txt']}vim\n` })).not.toBe(builderTag())
    expect(builderRef('registry.example.com:5000')).toBe(`registry.example.com:5000/nbs/builder:${builderTag()}`)
  })

  test('the image declares no VOLUME: Nomad removes containers without their anonymous volumes', () => {
    expect(definitionFiles['build.sh']).not.toContain('--volume')
  })
})
