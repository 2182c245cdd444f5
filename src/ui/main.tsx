// The dashboard in the browser: asks for a token when the server wants one, then shows the page its URL names.
import { render } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { getInfo, isUnauthorized, onUnauthorized, storedToken, storeToken } from './api'
import { ErrorNote } from './common'
import { JobPage } from './job-page'
import { ListPage } from './list-page'
import { ServerPage } from './server-page'

/** unknown: not asked yet; open: the server took us (no auth, or a good token); ask: it wants a token; refused: it said no to ours. */
type Access = 'unknown' | 'open' | 'ask' | 'refused'

function page() {
  const job = /^\/ui\/jobs\/([^/]+)\/?$/.exec(location.pathname)
  if (job) return <JobPage id={decodeURIComponent(job[1] as string)} />
  if (/^\/ui\/server\/?$/.test(location.pathname)) return <ServerPage />
  return <ListPage />
}

function App() {
  const [access, setAccess] = useState<Access>('unknown')
  const [error, setError] = useState<unknown>()
  // /v1/info answers 401 exactly when the server has client tokens and ours is missing or wrong.
  const check = () =>
    getInfo().then(
      () => setAccess('open'),
      (e) => (isUnauthorized(e) ? undefined : setError(e)),
    )
  useEffect(() => {
    onUnauthorized(() => setAccess(storedToken() ? 'refused' : 'ask'))
    check()
  }, [])
  const signedIn = access === 'open' && !!storedToken()
  return (
    <>
      <header>
        <nav aria-label="Main">
          <a href="/ui" class="brand">
            Nomad Build Service
          </a>
          <a href="/ui" aria-current={location.pathname === '/ui' ? 'page' : undefined}>
            Builds
          </a>
          <a href="/ui/server" aria-current={location.pathname === '/ui/server' ? 'page' : undefined}>
            Server
          </a>
          <a href="/docs">API docs</a>
          {signedIn && (
            <button
              type="button"
              class="link"
              onClick={() => {
                storeToken(undefined)
                location.reload()
              }}
            >
              Forget token
            </button>
          )}
        </nav>
      </header>
      <main>
        <ErrorNote error={error} />
        {access === 'open' && page()}
        {(access === 'ask' || access === 'refused') && (
          <TokenForm
            refused={access === 'refused'}
            onToken={(token) => {
              storeToken(token)
              setAccess('unknown')
              check()
            }}
          />
        )}
      </main>
    </>
  )
}

function TokenForm({ refused, onToken }: { refused: boolean; onToken: (token: string) => void }) {
  const [token, setToken] = useState('')
  return (
    <form
      class="token"
      onSubmit={(e) => {
        e.preventDefault()
        if (token.trim()) onToken(token.trim())
      }}
    >
      <h1>Sign in</h1>
      <p>This server asks for a client token (what `nbs client new` printed, also used as NBS_TOKEN).</p>
      {refused && (
        <p class="error" role="alert">
          The server refused that token (401). Check it and try again.
        </p>
      )}
      <label>
        Token{' '}
        <input type="password" autocomplete="off" required value={token} onInput={(e) => setToken(e.currentTarget.value)} autofocus />
      </label>{' '}
      <button type="submit">Sign in</button>
      <p class="muted small">Kept for this tab only (sessionStorage) and sent as an Authorization header.</p>
    </form>
  )
}

render(<App />, document.getElementById('app') as HTMLElement)
