// Packing a directory for upload: what Buildah would see of it, read back with tar-stream as the server reads it.
import { describe, expect, test } from 'bun:test'
import { chmodSync, linkSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { Readable } from 'node:stream'
import { createGunzip } from 'node:zlib'
import { extract } from 'tar-stream'
import { packDirectory, type PackOptions } from '../../src/cli/pack'

interface Entry {
  type: string
  mode: number
  linkname?: string
  text?: string
}

/** A directory holding `files` (path → content), made fresh. */
function tree(files: Record<string, string | Uint8Array>): string {
  const dir = mkdtempSync(join(tmpdir(), 'nbs-pack-'))
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true })
    writeFileSync(join(dir, path), text)
  }
  return dir
}

/** The archive's entries by name, as tar-stream's extract reads the gzip stream. */
async function entries(stream: ReadableStream<Uint8Array>): Promise<Map<string, Entry>> {
  const tar = extract()
  Readable.fromWeb(stream as never).pipe(createGunzip()).pipe(tar)
  const out = new Map<string, Entry>()
  for await (const e of tar) {
    const chunks: Buffer[] = []
    for await (const c of e) chunks.push(c as Buffer)
    const h = e.header
    out.set(h.name, { type: h.type ?? 'file', mode: h.mode ?? 0, ...(h.linkname ? { linkname: h.linkname } : {}), ...(h.type === 'file' ? { text: Buffer.concat(chunks).toString() } : {}) })
  }
  return out
}

async function packed(dir: string, options?: PackOptions) {
  const p = packDirectory(dir, options)
  const [got, done] = await Promise.all([entries(p.stream), p.done])
  return { got, done, names: [...got.keys()].sort() }
}

describe('packDirectory', () => {
  test(".dockerignore as Buildah reads it: **, ! exceptions, a directory pattern, / and ./ cleaned, patterns anchored at the root; the ignore file and Dockerfile still sent", async () => {
    const dir = tree({
      Dockerfile: 'FROM scratch\n',
      '.dockerignore': ['# comment', '**/*.log', '!keep/important.log', 'build/', '/rooted.txt', './dotted.txt', '*.md', 'Dockerfile', '.dockerignore', ''].join('\n'),
      'app.log': 'x',
      'a/b/deep.log': 'x',
      'keep/important.log': 'kept',
      'keep/other.log': 'x',
      'build/out.bin': 'x',
      'build/sub/more.bin': 'x',
      'rooted.txt': 'x',
      'dotted.txt': 'x',
      'README.md': 'x',
      'docs/README.md': 'kept: *.md names the root only, unlike .gitignore',
      'src/main.go': 'package main',
    })
    const { names, got } = await packed(dir)
    expect(names).toEqual(['.dockerignore', 'Dockerfile', 'a', 'a/b', 'docs', 'docs/README.md', 'keep', 'keep/important.log', 'src', 'src/main.go'])
    expect(got.get('keep/important.log')?.text).toBe('kept')
  })

  test('an exception below an ignored directory takes back that file, with the directories that hold it', async () => {
    const dir = tree({ '.dockerignore': 'vendor\n!vendor/keep/me.txt\n', 'vendor/keep/me.txt': 'me', 'vendor/keep/not.txt': 'x', 'vendor/gone/x.txt': 'x' })
    const { names } = await packed(dir)
    expect(names).toEqual(['.dockerignore', 'vendor', 'vendor/keep', 'vendor/keep/me.txt'])
  })

  test('a relative symlink stays a symlink (not followed), modes are kept, hard links are stored as files', async () => {
    const dir = tree({ 'data/real.txt': 'real', 'run.sh': '#!/bin/sh\n', 'private.key': 'k' })
    symlinkSync('data/real.txt', join(dir, 'link.txt'))
    symlinkSync('data', join(dir, 'data-link'))
    chmodSync(join(dir, 'run.sh'), 0o755)
    chmodSync(join(dir, 'private.key'), 0o600)
    linkSync(join(dir, 'data/real.txt'), join(dir, 'hard.txt'))
    const { got } = await packed(dir)
    expect(got.get('link.txt')).toEqual({ type: 'symlink', mode: expect.any(Number), linkname: 'data/real.txt' })
    expect(got.get('data-link')).toMatchObject({ type: 'symlink', linkname: 'data' })
    expect(got.has('data-link/real.txt')).toBe(false)
    expect(got.get('run.sh')?.mode).toBe(0o755)
    expect(got.get('private.key')?.mode).toBe(0o600)
    expect(got.get('hard.txt')).toMatchObject({ type: 'file', text: 'real' })
    expect(got.get('data/real.txt')).toMatchObject({ type: 'file', text: 'real' })
  })

  test('.git is left out unless asked for', async () => {
    const dir = tree({ '.git/HEAD': 'ref: refs/heads/main\n', 'sub/.git': 'gitdir: ../.git/modules/sub\n', 'sub/x': 'x' })
    expect((await packed(dir)).names).toEqual(['sub', 'sub/x'])
    expect((await packed(dir, { includeGit: true })).names).toEqual(['.git', '.git/HEAD', 'sub', 'sub/.git', 'sub/x'])
  })

  test("a sub-directory context: only it is sent, under its own path, filtered by its own .dockerignore (not the root's)", async () => {
    const dir = tree({
      '.dockerignore': 'services\n',
      'other/x': 'x',
      'services/api/.dockerignore': 'tmp\n',
      'services/api/Dockerfile': 'FROM scratch\n',
      'services/api/main.go': 'package main',
      'services/api/tmp/cache': 'x',
    })
    const { names } = await packed(dir, { context: 'services/api' })
    expect(names).toEqual(['services', 'services/api', 'services/api/.dockerignore', 'services/api/Dockerfile', 'services/api/main.go'])
    await expect(packDirectory(dir, { context: '../elsewhere' }).done).rejects.toThrow('context: "../elsewhere" must be a sub-directory of the directory sent')
  })

  test('.containerignore wins over .dockerignore, as in Buildah', async () => {
    const dir = tree({ '.containerignore': 'a\n', '.dockerignore': 'b\n', a: 'x', b: 'x' })
    expect((await packed(dir)).names).toEqual(['.containerignore', '.dockerignore', 'b'])
  })

  test('a socket is left out, with a note', async () => {
    const dir = tree({ 'x.txt': 'x' })
    const server = createServer()
    await new Promise<void>((r) => server.listen(join(dir, 'app.sock'), r))
    try {
      const skipped: string[] = []
      const { names } = await packed(dir, { onSkip: (path, why) => skipped.push(`${path}: ${why}`) })
      expect(names).toEqual(['x.txt'])
      expect(skipped).toEqual(['app.sock: a socket'])
    } finally {
      server.close()
    }
  })

  test('files are read as the upload pulls: a file changed after the first chunk went out is sent as changed', async () => {
    // Two incompressible MB: far more than the stream's buffers hold (a few 16-64 KB each), so z is not read yet.
    const random = () => crypto.getRandomValues(new Uint8Array(2 ** 16))
    const mb = () => Buffer.concat(Array.from({ length: 16 }, random))
    const dir = tree({ a: mb(), b: mb(), z: 'before' })
    const p = packDirectory(dir)
    const reader = p.stream.getReader()
    const first = await reader.read()
    // Room for a packer that reads ahead of its reader to reach z (2 MB take well under this): this one must not.
    await Bun.sleep(200)
    writeFileSync(join(dir, 'z'), 'after')
    const rest = new ReadableStream<Uint8Array>({
      start: (c) => c.enqueue(first.value as Uint8Array),
      pull: async (c) => {
        const r = await reader.read()
        if (r.done) c.close()
        else c.enqueue(r.value)
      },
    })
    const got = await entries(rest)
    expect(got.get('z')?.text).toBe('after')
    expect((await p.done).bytes).toBe(2 * 2 ** 20 + 'after'.length)
  })

  test('a missing directory is refused naming it', async () => {
    await expect(packDirectory('/nonexistent/nbs').done).rejects.toThrow('cannot read /nonexistent/nbs: no such directory')
  })
})
