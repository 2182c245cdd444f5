// The web dashboard at /ui: one HTML page for every view, the browser bundle and the stylesheet, all from this binary.
import { Elysia } from 'elysia'
import css from '../ui/style.css' with { type: 'text' }

// Nothing from another host, no inline script; the API is the page's only data source, under this origin.
const CSP = "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>Nomad Build Service</title>
<link rel="stylesheet" href="/ui/style.css">
<link rel="icon" href="data:,">
<script type="module" src="/ui/app.js"></script>
</head>
<body><div id="app"><noscript>The dashboard needs JavaScript; the same facts are in the REST API (<a href="/docs">/docs</a>).</noscript></div></body>
</html>
`

const html = () => new Response(page, { headers: { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': CSP } })

let appJs: Promise<string> | undefined
// Bundled on first use when running from source (see src/ui/app-js.ts); compiled in by `bun build --compile`.
const bundle = () => (appJs ??= import('../ui/app-js').then((m) => m.appJs))

const hidden = { detail: { hide: true } }

export const uiRoutes = () =>
  new Elysia({ name: 'ui' })
    .get('/', ({ redirect }) => redirect('/ui', 302), hidden)
    .group('/ui', (ui) =>
      ui
        .get('', html, hidden)
        .get('/', html, hidden)
        .get('/server', html, hidden)
        .get('/jobs/:id', html, hidden)
        .get('/app.js', async () => new Response(await bundle(), { headers: { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache' } }), hidden)
        .get('/style.css', () => new Response(css, { headers: { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'no-cache' } }), hidden),
    )
