import { describe, expect, test } from 'bun:test'
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { baseImages, baseRef, baseTags, definitionHash } from '../../src/dev/base-images'

const dir = join(import.meta.dir, '../../images/base')

describe('the base images of the dev registry', () => {
  test('each script of images/base/ is one image, embedded as it is on disk', () => {
    expect(baseImages.map((i) => i.script).sort()).toEqual(readdirSync(dir).sort())
    for (const i of baseImages) expect(i.text).toBe(readFileSync(join(dir, i.script), 'utf8'))
  })

  test('the references a FROM names, and a pinned tag per definition', () => {
    expect(baseImages.map((i) => baseRef('127.0.0.1:5000', i))).toEqual(['127.0.0.1:5000/library/busybox:latest', '127.0.0.1:5000/library/debian:bookworm-slim'])
    for (const i of baseImages) expect(baseTags(i)).toEqual({ usual: i.tag, pinned: `${i.tag}-${definitionHash(i)}` })
  })

  test('the definition hash changes with the script and with an input file, and only with them', () => {
    const input = join(mkdtempSync(join(tmpdir(), 'nbs-base-')), 'busybox')
    writeFileSync(input, 'one build of busybox')
    const image = { ...baseImages[0]!, inputs: () => [input] }
    const hash = definitionHash(image)
    expect(hash).toMatch(/^[0-9a-f]{16}$/)
    expect(definitionHash({ ...image })).toBe(hash)
    expect(definitionHash({ ...image, text: `${image.text}\n` })).not.toBe(hash)
    writeFileSync(input, 'another build of busybox')
    expect(definitionHash(image)).not.toBe(hash)
  })
})
