// /docs in a real browser: headless Chromium renders Scalar from the bundle this server serves (no CDN) and
// shows every operation's summary; a screenshot is kept for people to look at.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { createApp } from '../../src/http/app'
import { ensureChromium, headless } from '../support/chromium'
import { service } from '../support/surfaces'

export const screenshotPath = process.env.NBS_DOCS_SCREENSHOT ?? '/tmp/nbs-docs-screenshot.png'

// Which paths the browser asked this server for.
const requested: string[] = []
const app = createApp(service)
  .onRequest(({ request }) => {
    requested.push(new URL(request.url).pathname)
  })
  .listen({ hostname: '127.0.0.1', port: 0 })
const base = `http://127.0.0.1:${app.server?.port}`
// Every host but ours resolves to nothing: the page must work on a machine without the internet.
const offline = `--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1`

let summaries: string[] = []

beforeAll(async () => {
  ensureChromium()
  const doc = (await (await fetch(`${base}/openapi.json`)).json()) as { paths: Record<string, Record<string, { summary?: string }>> }
  summaries = Object.values(doc.paths).flatMap((ops) => Object.values(ops).map((op) => op.summary ?? ''))
}, 600_000)

afterAll(async () => {
  await app.stop(true)
})

/** The visible text of an HTML document: no scripts, styles or tags, whitespace collapsed. */
const textOf = (html: string) =>
  html
    .replace(/<(script|style)\b[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&amp;/g, '&')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/\s+/g, ' ')

describe('/docs', () => {
  test('the page loads nothing from other hosts; the Scalar bundle comes from this server', async () => {
    const html = await (await fetch(`${base}/docs`)).text()
    const sources = [...html.matchAll(/\b(?:src|href)\s*=\s*["']?([^"'\s>]+)/gi)].map((m) => m[1] as string)
    expect(sources.length).toBeGreaterThan(0)
    for (const s of sources) expect({ s, external: /^(?:[a-z][a-z0-9+.-]*:)?\/\//i.test(s) }).toEqual({ s, external: false })
    expect(html).not.toMatch(/jsdelivr|unpkg|fonts\.scalar\.com/i)
    const script = sources.find((s) => s.endsWith('.js')) as string
    const res = await fetch(new URL(script, `${base}/docs`))
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('javascript')
    expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(1_000_000)
  })

  test(
    'headless Chromium, offline, renders every operation; screenshot',
    async () => {
      expect(summaries.length).toBeGreaterThanOrEqual(9)
      expect(summaries.every((s) => s.length > 0)).toBe(true)
      requested.length = 0

      const dump = await headless(`${base}/docs`, [offline, '--dump-dom'])
      expect({ status: dump.status, stderr: dump.status === 0 ? '' : dump.stderr.slice(-2000) }).toEqual({ status: 0, stderr: '' })
      // The summaries are only in /openapi.json: finding them in the DOM means Scalar ran and rendered the document.
      const text = textOf(dump.stdout)
      const missing = summaries.filter((s) => !text.includes(s))
      expect({ missing, text: missing.length ? text.slice(0, 3000) : '' }).toEqual({ missing: [], text: '' })
      expect(text).toContain('Nomad Build Service')
      expect(requested).toEqual(expect.arrayContaining(['/docs', '/docs/scalar.js', '/openapi.json']))

      rmSync(screenshotPath, { force: true })
      const shot = await headless(`${base}/docs`, [offline, `--screenshot=${screenshotPath}`, '--window-size=1280,2000', '--hide-scrollbars'])
      expect({ status: shot.status, stderr: shot.status === 0 ? '' : shot.stderr.slice(-2000) }).toEqual({ status: 0, stderr: '' })
      expect(existsSync(screenshotPath)).toBe(true)
      const png = readFileSync(screenshotPath)
      expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a')
      // A blank 1280x2000 page compresses to a few kilobytes; the rendered reference is far bigger.
      expect(png.byteLength).toBeGreaterThan(50_000)
    },
    120_000,
  )
})
