// The web dashboard in a real browser (Debian's chromium driven by playwright-core) against real builds on the dev stack.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import { HttpBuildApi } from '../../src/cli/http-client'
import { createApp } from '../../src/http/app'
import type { JobStatus } from '../../src/jobs/status-schema'
import { Clients, newClient } from '../../src/service/clients'
import { appJs } from '../../src/ui/app-js'
import { ensureChromium } from '../support/chromium'
import { nomad, urls } from '../support/dev-stack'
import { ensureStack, helloWorld, listenInProcess, projectDir, service } from '../support/surfaces'

const shots = join(projectDir, 'test-output/ui')

let chromiumBin: string | undefined
let skipWhy = ''
try {
  chromiumBin = ensureChromium()
} catch (e) {
  skipWhy = e instanceof Error ? e.message : String(e)
  console.warn(`dashboard browser tests skipped: ${skipWhy}`)
}

/**
 * A test command's gate: the command prints a line, then waits on a request this server answers only when the
 * test releases it. What the page shows meanwhile is the running build, with no race against the clock.
 */
function gates() {
  const waiting = new Map<string, () => void>()
  const opened = new Set<string>()
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    idleTimeout: 0,
    fetch: (req) => {
      const name = new URL(req.url).pathname.slice(1)
      if (opened.has(name)) return new Response('released\n')
      return new Promise<Response>((resolve) => waiting.set(name, () => resolve(new Response('released\n'))))
    },
  })
  return {
    command: (name: string) => `echo tick-1; wget -q -O- http://127.0.0.1:${server.port}/${name}; echo tick-2`,
    open: (name: string) => {
      opened.add(name)
      waiting.get(name)?.()
    },
    stop: () => {
      for (const name of waiting.keys()) opened.add(name)
      for (const release of waiting.values()) release()
      server.stop(true)
    },
  }
}

const gate = gates()
const gated = (image: string, name: string) => ({ ...helloWorld(image), test: { commands: [gate.command(name)] } })

/** A browser context on one server that records every request, script error and console error. */
async function browse(browser: Browser, base: string, options: { colorScheme?: 'light' | 'dark'; width?: number } = {}) {
  const context: BrowserContext = await browser.newContext({
    viewport: { width: options.width ?? 1200, height: 820 },
    colorScheme: options.colorScheme ?? 'light',
    permissions: ['clipboard-read', 'clipboard-write'],
  })
  const requests: { url: string; authorization?: string }[] = []
  const errors: string[] = []
  context.on('request', (r) => requests.push({ url: r.url(), authorization: r.headers().authorization }))
  const page = await context.newPage()
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`))
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`)
  })
  return {
    page,
    requests,
    errors,
    /** Closes the context; no request left this server, and no error was printed but those `expected` allows. */
    finish: async (expected?: RegExp) => {
      await context.close()
      const origin = new URL(base).origin
      expect(requests.map((r) => r.url).filter((u) => !u.startsWith(`${origin}/`) && !u.startsWith('data:'))).toEqual([])
      expect(errors.filter((e) => !expected?.test(e))).toEqual([])
    },
  }
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true })
const logLines = (page: Page) => page.locator('pre.log .line').allInnerTexts()
/** Until the shown log of `task` has a line that is exactly `line` (the command's echo holds the text too). */
const logLine = (page: Page, task: string, line: string) =>
  page.waitForFunction(
    ([task, line]) => [...document.querySelectorAll(`pre.log[data-task="${task}"] .line`)].some((l) => l.textContent === line),
    [task, line],
  )

test('the bundle is small and the routes serve it with the page', async () => {
  expect(Bun.gzipSync(appJs).length).toBeLessThan(100 * 1024)
  const app = createApp(service)
  const root = await app.handle(new Request('http://localhost/'))
  expect(root.status).toBe(302)
  expect(root.headers.get('location')).toBe('/ui')
  const html = await app.handle(new Request('http://localhost/ui/jobs/20261205-000000-abcdef'))
  expect(html.headers.get('content-type')).toStartWith('text/html')
  expect(html.headers.get('content-security-policy')).toContain("default-src 'self'")
  expect(await html.text()).toContain('<script type="module" src="/ui/app.js">')
  const js = await app.handle(new Request('http://localhost/ui/app.js'))
  expect(js.headers.get('content-type')).toStartWith('text/javascript')
  expect(await js.text()).toBe(appJs)
})

describe.skipIf(!chromiumBin)(`dashboard in chromium${skipWhy ? ` (skipped: ${skipWhy})` : ''}`, () => {
  let browser: Browser
  let server: ReturnType<typeof listenInProcess>
  let broken: string
  let killed: string
  let queued: string
  const holders: string[] = []

  beforeAll(async () => {
    mkdirSync(shots, { recursive: true })
    await ensureStack()
    server = listenInProcess()
    browser = await chromium.launch({
      executablePath: chromiumBin,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    })
    // Started now, so that they run while the live build is watched. The build to kill holds most of its node's
    // memory at its gate, and on a cluster one more such build holds each other node's, so that one more
    // waits in the queue until the kill frees a node.
    const nodes = (await nomad.nodes.list()).data.filter((n) => n.Status === 'ready')
    const memory = Math.floor(Math.min(...nodes.map((n) => n.NodeResources!.Memory!.MemoryMB! - (n.ReservedResources?.Memory?.MemoryMB ?? 0))) * 0.6)
    ;[broken, killed] = await Promise.all([
      service.submitJob({ repo: `${urls.git}/broken-build`, image: `${urls.registry}/test/ui-broken` }).then((r) => r.id),
      service.submitJob({ ...gated('test/ui-kill', 'kill'), resources: { memory } }).then((r) => r.id),
    ])
    for (const _ of nodes.slice(1)) holders.push((await service.submitJob({ ...gated('test/ui-hold', 'kill'), resources: { memory } })).id)
    for (const id of [killed, ...holders]) if ((await service.getStatus(id)).status === 'PENDING') await service.waitForJob({ id, timeoutSeconds: 60 })
    queued = (await service.submitJob({ ...helloWorld('test/ui-queued'), resources: { memory } })).id
  }, 120_000)

  afterAll(async () => {
    for (const id of holders) await service.killJob(id).catch(() => {})
    gate.stop()
    await browser?.close()
    await server?.stop()
  })

  test('a new build appears on /ui without a reload; its page follows it live to SUCCEEDED with the digest and a timeline', async () => {
    const s = await browse(browser, server.url)
    const { page } = s
    await page.goto(`${server.url}/`)
    expect(page.url()).toBe(`${server.url}/ui`)
    await page.waitForSelector('table.jobs')
    await page.evaluate(() => Object.assign(window, { sameDocument: true }))
    const { id } = await service.submitJob(gated('test/ui-live', 'live'))
    const row = page.locator(`tr[data-job="${id}"]`)
    await row.waitFor()
    expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true)
    expect(await row.innerText()).toContain('test/ui-live')
    await page.locator(`tr[data-job="${queued}"] .queue`).waitFor()
    expect(await page.locator(`tr[data-job="${queued}"] .queue`).innerText()).toStartWith('waiting for memory')
    await shot(page, 'list')

    await row.locator('a').click()
    await page.waitForSelector('article[data-status="TESTING"]')
    await logLine(page, 'test-0', 'tick-1')
    // The command is held at its gate: this line came while it runs, and the bar of test-0 grows.
    expect(await logLines(page)).not.toContain('tick-2')
    expect(await page.getAttribute('.timeline li[data-task="test-0"] .span', 'class')).toContain('t-running')
    await shot(page, 'running')

    gate.open('live')
    await page.waitForSelector('article[data-status="SUCCEEDED"]')
    const status = await service.getStatus(id)
    expect(await page.locator('.result .digest').innerText()).toBe(status.result?.digest as string)
    await page.click('button:text-is("Copy digest")')
    await page.waitForSelector('button:text-is("Copied")')
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(status.result?.digest as string)
    expect(await page.locator('.result .refs').innerText()).toContain(status.result?.images[0] as string)
    const bars = page.locator('.timeline li[data-task]')
    expect(await bars.evaluateAll((lis) => lis.map((li) => [li.getAttribute('data-task'), li.getAttribute('data-state'), !!li.querySelector('.span')]))).toEqual(
      status.tasks.map((t) => [t.task, 'succeeded', true]),
    )
    await page.click('button.tab:text-is("test-0")')
    await logLine(page, 'test-0', 'tick-2')
    await page.fill('input[type="search"]', 'tick-')
    expect(await logLines(page)).toEqual([expect.stringContaining('echo tick-1'), 'tick-1', 'tick-2'])
    await page.fill('input[type="search"]', '')
    await page.click('button.tab:text-is("build")')
    // hello-world's tree was built on this node before unless the store is fresh: then its image is reused whole.
    const buildLog = (await service.getLogs({ id, phase: 'build', tail: 0 })).logs[0]?.text ?? ''
    const reused = /reusing image ([0-9a-f]{12})/.exec(buildLog)?.[1]
    expect(await page.locator('[data-cache]').innerText()).toMatch(reused ? new RegExp(`^Image reused: .*\\(${reused}\\); Buildah did not run$`) : /^Layer cache: \d+ of 5 steps reused$/)
    await shot(page, 'succeeded')
    await s.finish()
  }, 60_000)

  test("a failed build's page shows the failure and highlights the failing step's own output", async () => {
    const s = await browse(browser, server.url)
    const { page } = s
    await page.goto(`${server.url}/ui/jobs/${broken}`)
    await page.waitForSelector('article[data-status="FAILED"]')
    expect(await page.getAttribute('.failure h2', 'data-reason')).toBe('build_failed')
    expect(await page.locator('.failure').innerText()).toContain((await service.getStatus(broken)).failure?.message as string)
    await logLine(page, 'build', '/bin/sh: make-the-app: not found')
    const hot = await page.locator('pre.log .hot').allInnerTexts()
    expect(hot[0]).toBe('STEP 4/5: RUN make-the-app --release')
    expect(hot.join('\n')).toContain('make-the-app: not found')
    expect(hot.join('\n')).not.toContain('STEP 3/5')
    await shot(page, 'failed')
    await s.finish()
  }, 60_000)

  test('/ui/server says what /v1/info says, and the queue', async () => {
    const s = await browse(browser, server.url, { width: 390 })
    const { page } = s
    await page.goto(`${server.url}/ui/server`)
    await page.waitForSelector('#server-title')
    await page.waitForSelector('#queue-title ~ :is(p, ul)')
    const info = await service.serverInfo()
    const text = await page.locator('main').innerText()
    expect(text).toContain(`Profile\n${info.profile}`)
    for (const registry of info.registries.insecure) expect(text).toContain(registry)
    expect(text).toContain(`${info.limits.requestBytes / 1024} KiB as JSON`)
    // The build to kill still holds the memory the queued one needs.
    expect(await page.locator(`.queue-list li[data-job="${queued}"]`).innerText()).toContain('waiting for memory')
    await shot(page, 'server-phone')
    await s.finish()
  }, 60_000)

  test('Kill asks first, then stops the build', async () => {
    const s = await browse(browser, server.url, { colorScheme: 'dark', width: 390 })
    const { page } = s
    await page.goto(`${server.url}/ui/jobs/${killed}`)
    await page.waitForSelector('article[data-status="TESTING"]')
    // By keyboard: Enter on the button asks, Escape takes it back.
    await page.focus('button.danger:text-is("Kill")')
    await page.keyboard.press('Enter')
    await page.waitForSelector('dialog[open]')
    await shot(page, 'kill-dialog-phone-dark')
    await page.keyboard.press('Escape')
    await page.waitForSelector('dialog[open]', { state: 'detached' })
    await page.click('button.danger:text-is("Kill")')
    await page.click('dialog button:text-is("Cancel")')
    await page.waitForSelector('dialog[open]', { state: 'detached' })
    expect((await service.getStatus(killed)).status).toBe('TESTING')
    await page.click('button.danger:text-is("Kill")')
    await page.click('dialog button:text-is("Kill the build")')
    await page.waitForSelector('article[data-status="FAILED"]')
    expect(await page.getAttribute('.failure h2', 'data-reason')).toBe('killed')
    await s.finish()
  }, 60_000)

  test('Kill is disabled while PUBLISHING, as the API refuses it then', async () => {
    // A push cannot be held at will on the stack: the page gets a real status moved to that phase.
    const real = await service.getStatus(killed)
    const { failure: _, finishedAt: __, ...rest } = real
    const publishing: JobStatus = {
      ...rest,
      status: 'PUBLISHING',
      tasks: real.tasks.map((t) => (t.task === 'publish' ? { ...t, state: 'running', startedAt: new Date().toISOString() } : t)),
    }
    const s = await browse(browser, server.url)
    const { page } = s
    await page.route(`**/v1/jobs/${killed}`, (r) => r.fulfill({ json: publishing }))
    // Left unanswered: the page waits for a change that does not come.
    await page.route(`**/v1/jobs/${killed}/wait?*`, () => {})
    await page.route(`**/v1/jobs/${killed}/logs?*`, (r) => r.fulfill({ contentType: 'text/event-stream', body: '' }))
    await page.goto(`${server.url}/ui/jobs/${killed}`)
    await page.waitForSelector('article[data-status="PUBLISHING"]')
    expect(await page.isDisabled('button.danger:text-is("Kill")')).toBe(true)
    await s.finish()
  }, 60_000)

  test('with client tokens: asks for one, refuses a wrong one, lists only the signed-in client’s builds', async () => {
    const run = Date.now().toString(36)
    const alice = newClient(`ui-alice-${run}`, [])
    const bob = newClient(`ui-bob-${run}`, [])
    const clients = new Clients([alice.entry, bob.entry])
    const app = createApp(service, { authenticate: (h) => clients.authenticate(h) }).listen({ hostname: '127.0.0.1', port: 0 })
    const url = `http://127.0.0.1:${app.server?.port}`
    try {
      const request = { repo: `${urls.git}/hello-world`, image: `${urls.registry}/test/ui-auth` }
      const [mine, theirs] = await Promise.all([
        new HttpBuildApi(url, alice.token).submitJob(request),
        new HttpBuildApi(url, bob.token).submitJob(request),
      ])
      const s = await browse(browser, url)
      const { page } = s
      await page.goto(`${url}/ui`)
      await page.waitForSelector('form.token')
      await page.fill('form.token input', 'nbs_not-a-token')
      await page.click('form.token button[type="submit"]')
      await page.waitForSelector('form.token .error')
      expect(await page.locator('form.token .error').innerText()).toContain('401')
      await page.fill('form.token input', alice.token)
      await page.click('form.token button[type="submit"]')
      await page.locator(`tr[data-job="${mine.id}"]`).waitFor()
      const listed = await page.locator('tr[data-job]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-job')))
      expect(listed).not.toContain(theirs.id)
      expect(await page.locator(`tr[data-job="${mine.id}"]`).innerText()).toContain(alice.entry.name)
      await page.setViewportSize({ width: 390, height: 820 })
      await shot(page, 'list-phone-signed-in')
      await page.goto(`${url}/ui/jobs/${theirs.id}`)
      await page.waitForSelector('p.error')
      expect(await page.locator('p.error').innerText()).toContain('404')
      expect(await page.evaluate(() => document.cookie)).toBe('')
      const api = s.requests.filter((r) => new URL(r.url).pathname.startsWith('/v1/'))
      expect(api.some((r) => r.authorization === `Bearer ${alice.token}`)).toBe(true)
      expect(s.requests.filter((r) => r.url.includes(alice.token) || r.url.includes('not-a-token'))).toEqual([])
      // The browser reports each refused request (401 before a token, 404 for bob's build) as a failed load.
      await s.finish(/Failed to load resource: the server responded with a status of (401|404)/)
    } finally {
      await app.stop(true)
    }
  }, 60_000)
})
