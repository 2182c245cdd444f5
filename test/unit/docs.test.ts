// The documentation holds together: every relative link leads to a file (and a heading, for a
// #anchor into markdown), every NBS_* variable the server reads is in the reference, and the
// README stays short. Reads files only.
import { describe, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'

const root = resolve(import.meta.dir, '../..')

/** The markdown files whose links are checked, relative to the checkout. */
const documents = [
  'README.md',
  'CONTRIBUTING.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
  'infra/README.md',
  'jobspecs/README.md',
]

/** Lines outside fenced code blocks: links and headings there are not markdown. */
function prose(text: string): string[] {
  let fence: string | undefined
  return text.split('\n').filter((line) => {
    const open = line.match(/^\s*(```+|~~~+)/)?.[1]
    if (open && (fence === undefined || open.startsWith(fence))) {
      fence = fence === undefined ? open : undefined
      return false
    }
    return fence === undefined
  })
}

/** GitHub's anchor for a heading: lowercase, punctuation other than '-' and '_' dropped, spaces to '-'. */
export function slug(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-')
}

/** The anchors a markdown file's headings make; a repeated heading gets -1, -2, … as on GitHub. */
export function anchors(text: string): Set<string> {
  const seen = new Map<string, number>()
  const out = new Set<string>()
  for (const line of prose(text)) {
    const heading = line.match(/^#{1,6}\s+(.*?)\s*#*\s*$/)?.[1]
    if (heading === undefined) continue
    const base = slug(heading)
    const n = seen.get(base) ?? 0
    seen.set(base, n + 1)
    out.add(n === 0 ? base : `${base}-${n}`)
  }
  return out
}

/** Inline links and images outside code: [text](target) and ![alt](target), targets without a title. */
export function links(text: string): string[] {
  const out: string[] = []
  for (const line of prose(text)) {
    const bare = line.replace(/`[^`]*`/g, (code) => (code.includes('](') ? '' : code))
    for (const m of bare.matchAll(/!?\[(?:[^\]`]|`[^`]*`)*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) out.push(m[1] as string)
  }
  return out
}

/** Every relative link of these files (paths relative to `base`) that leads nowhere, as "file: target (why)". */
export function brokenLinks(base: string, files: string[]): string[] {
  const broken: string[] = []
  for (const file of files) {
    const text = readFileSync(join(base, file), 'utf8')
    for (const target of links(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue // https:, mailto:, …
      const [path = '', anchor] = target.split('#', 2) as [string, string | undefined]
      const to = path === '' ? join(base, file) : resolve(dirname(join(base, file)), decodeURIComponent(path))
      if (relative(base, to).startsWith('..')) {
        broken.push(`${file}: ${target} (outside the repository)`)
        continue
      }
      if (!existsSync(to)) {
        broken.push(`${file}: ${target} (no such file)`)
        continue
      }
      if (anchor === undefined || !to.endsWith('.md') || statSync(to).isDirectory()) continue
      if (!anchors(readFileSync(to, 'utf8')).has(decodeURIComponent(anchor)))
        broken.push(`${file}: ${target} (no heading #${anchor} in ${relative(base, to)})`)
    }
  }
  return broken
}

describe('the link checker', () => {
  test("makes GitHub's anchors", () => {
    expect(slug('What it is')).toBe('what-it-is')
    expect(slug("The agent's loop: look inside, and builds as MCP Tasks")).toBe('the-agents-loop-look-inside-and-builds-as-mcp-tasks')
    expect(slug('Configuration (environment)')).toBe('configuration-environment')
    expect(slug('`npm ci` on Node 20')).toBe('npm-ci-on-node-20')
    expect(slug('snake_case and a-dash')).toBe('snake_case-and-a-dash')
    expect([...anchors('# A\n```\n# not a heading\n```\n## A\n## B #\n')]).toEqual(['a', 'a-1', 'b'])
  })

  test('reports a missing file and a missing heading, and passes what resolves', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nbs-docs-'))
    try {
      writeFileSync(join(dir, 'other.md'), '# Other\n\n## The layer cache\n')
      writeFileSync(
        join(dir, 'index.md'),
        [
          '# Index',
          '[ok](other.md) [ok](other.md#the-layer-cache) [ok](#index) [ok](https://example.com/x.md#nope)',
          '[gone](missing.md) [no heading](other.md#layer-cache) [here](#nowhere) ![img](img.png)',
          '`[code](not-a-link.md)`',
          '```',
          '[fenced](not-a-link-either.md)',
          '```',
        ].join('\n'),
      )
      expect(brokenLinks(dir, ['index.md'])).toEqual([
        'index.md: missing.md (no such file)',
        'index.md: other.md#layer-cache (no heading #layer-cache in other.md)',
        'index.md: #nowhere (no heading #nowhere in index.md)',
        'index.md: img.png (no such file)',
      ])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('the documentation', () => {
  test('checks the files it should', () => {
    expect(documents).toEqual(expect.arrayContaining(['docs/status.md', 'docs/security.md', 'docs/reference.md', 'docs/operations.md']))
  })

  test('every relative link resolves to a file, and every #anchor to a heading', () => {
    expect(brokenLinks(root, documents)).toEqual([])
  })

  test('every NBS_* variable src/config.ts reads is in the configuration table of docs/reference.md', () => {
    const config = readFileSync(join(root, 'src/config.ts'), 'utf8')
    const read = [...new Set([...config.matchAll(/\benv\.(NBS_[A-Z0-9_]+)/g)].map((m) => m[1] as string))]
    expect(read.length).toBeGreaterThan(20)
    const reference = readFileSync(join(root, 'docs/reference.md'), 'utf8')
    const table = reference.match(/^## Configuration \(environment\)\n[\s\S]*?(?=^## |(?![\s\S]))/m)?.[0] ?? ''
    expect(table).toContain('| variable | meaning | default |')
    expect(read.filter((name) => !new RegExp(`\`${name}[\`=]`).test(table))).toEqual([])
  })

  test('the README has at most 160 lines, and starts with make demo and make test', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8')
    expect(readme.replace(/\n$/, '').split('\n').length).toBeLessThanOrEqual(160)
    expect(readme).toStartWith('# Nomad Build Service\n\n```sh\nmake demo ')
    expect(readme.split('\n')[4]).toStartWith('make test ')
  })
})
