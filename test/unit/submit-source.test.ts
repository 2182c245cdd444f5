// Where a build's source comes from, as the CLI's flags and files and each MCP transport say it.
import { describe, expect, test } from 'bun:test'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js'
import { flagNames, localSource, requestFromFlags } from '../../src/cli/request-options'
import { loadConfig } from '../../src/config'
import { createMcpServer } from '../../src/mcp/server'
import type { UploadDirectory } from '../../src/mcp/tools'
import { NomadClient } from '../../src/nomad/client'
import { BuildService } from '../../src/service/build-service'

const id = `sha256:${'ab'.repeat(32)}`
const image = '127.0.0.1:5000/me/app'
const mainTs = resolve(import.meta.dir, '../../src/cli/main.ts')

describe('nbs submit: the source flags', () => {
  test.each([
    [{ dir: '.', source: '.' }, '[dir] and --source: both name what to build: give the directory once'],
    [{ repo: 'https://example.com/a.git', source: '.' }, '--repo and --source: give one: a Git repository (--repo URL) or a directory to upload (--source DIR)'],
    [{ repo: 'https://example.com/a.git', dir: '.' }, '--repo and [dir]: give one'],
  ])('%j: refused naming the flags', (flags, message) => {
    expect(() => requestFromFlags({ ...flags, image }, {})).toThrow(message)
  })

  test('a directory (argument or --source) is made absolute and left to upload; an upload id goes as it is', () => {
    const fromDir = requestFromFlags({ dir: 'app', image }, {})
    expect(fromDir.source).toBe(resolve('app'))
    expect(localSource(fromDir)).toBe(resolve('app'))
    expect(localSource(requestFromFlags({ source: './app', image }, {}))).toBe(resolve('app'))
    const fromId = requestFromFlags({ source: id, image }, {})
    expect(fromId.source).toBe(id)
    expect(localSource(fromId)).toBeUndefined()
  })

  test("a file's source: ./path is relative to the file; source: sha256:… passes through; a flag's source replaces the file's repo and ref", () => {
    const dir = mkdtempSync(join(tmpdir(), 'nbs-submit-source-'))
    mkdirSync(join(dir, 'conf'))
    const file = join(dir, 'conf', 'build.yaml')
    writeFileSync(file, `source: ../app\nimage: ${image}\n`)
    expect(localSource(requestFromFlags({ file }, {}))).toBe(join(dir, 'app'))
    writeFileSync(file, `source: ${id}\nimage: ${image}\n`)
    expect(requestFromFlags({ file }, {}).source).toBe(id)
    writeFileSync(file, `repo: https://example.com/a.git\nref: main\nimage: ${image}\n`)
    const overridden = requestFromFlags({ file, source: 'here' }, {})
    expect(overridden).toEqual({ source: resolve('here'), image })
    writeFileSync(file, `source: ../app\nimage: ${image}\n`)
    expect(requestFromFlags({ file, repo: 'https://example.com/b.git' }, {})).toEqual({ repo: 'https://example.com/b.git', image })
  })

  test("the server's refusal of source names the flag that set it", () => {
    expect(flagNames({ source: '.' }).source).toBe('--source')
    expect(flagNames({ dir: '.' }).source).toBe('[dir]')
    expect(flagNames({ file: 'x.yaml' }).source).toBeUndefined()
  })

  test('the CLI refuses --repo with a directory before it packs or calls a server', () => {
    // Nothing listens on port 9: reaching for the server would say so instead.
    const r = Bun.spawnSync([process.execPath, mainTs, '--server', 'http://127.0.0.1:9', 'submit', '.', '--repo', 'https://example.com/a.git', '--image', image], { stdin: 'ignore' })
    expect(r.exitCode).toBe(2)
    expect(r.stderr.toString()).toBe('nbs: --repo and [dir]: give one: a Git repository (--repo URL) or a directory to upload (--source DIR)\n')
  })
})

describe('submitJob per transport', () => {
  // Tool lists need no Nomad (getServerInfo is the configuration); nothing listens on this address.
  const service = new BuildService(new NomadClient({ address: 'http://127.0.0.1:9' }), loadConfig({}))

  async function connected(upload?: UploadDirectory) {
    const [a, b] = InMemoryTransport.createLinkedPair()
    await createMcpServer(service, {}, upload).connect(a)
    const client = new Client({ name: 'test', version: '0' })
    await client.connect(b)
    const submit = (await client.listTools()).tools.find((t) => t.name === 'submitJob')
    return { client, submit, properties: Object.keys((submit?.inputSchema.properties ?? {}) as object) }
  }

  test('over HTTP: no sourcePath; the description says to upload first and give source', async () => {
    const { client, submit, properties } = await connected()
    expect(properties).toContain('source')
    expect(properties).not.toContain('sourcePath')
    expect(submit?.description).toContain('source: the id of a directory uploaded first, with `nbs upload DIR`')
    expect(submit?.description).toContain('POST /v1/sources')
    const r = (await client.callTool({ name: 'submitJob', arguments: { sourcePath: '.', image } })) as { isError?: boolean; content: { text: string }[] }
    expect(r.isError).toBe(true)
    expect(r.content[0]?.text).toContain('sourcePath')
    await client.close()
  })

  test('on stdio: sourcePath is offered, packed and uploaded with the context, and the build names the upload', async () => {
    const uploads: unknown[] = []
    const { client, submit, properties } = await connected(async (_api, path, request) => {
      uploads.push({ path, context: request.context })
      return { source: id, size: 1, expiresAt: new Date().toISOString() }
    })
    expect(properties).toEqual(expect.arrayContaining(['repo', 'source', 'sourcePath']))
    expect(submit?.description).toContain('sourcePath: a directory of this machine')
    const both = (await client.callTool({ name: 'submitJob', arguments: { sourcePath: '.', repo: 'https://example.com/a.git', image } })) as { isError?: boolean; content: { text: string }[] }
    expect(both.isError).toBe(true)
    expect(both.content[0]?.text).toContain('sourcePath: give one of repo, source and sourcePath, not repo as well')
    expect(uploads).toEqual([])
    // The upload happened; the submit then reaches for Nomad, which is not there.
    const r = (await client.callTool({ name: 'submitJob', arguments: { sourcePath: 'app', context: 'sub', image } })) as { isError?: boolean; content: { text: string }[] }
    expect(uploads).toEqual([{ path: 'app', context: 'sub' }])
    expect(r.isError).toBe(true)
    expect(r.content[0]?.text).toContain('nomad_unavailable')
    await client.close()
  })
})
