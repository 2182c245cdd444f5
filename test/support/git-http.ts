// A private Git server for tests: smart HTTP through `git http-backend`, behind basic auth, on 127.0.0.1.

export function privateGitServer(root: string, user: string, password: string) {
  const expected = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`
  return Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(req) {
      if (req.headers.get('authorization') !== expected)
        return new Response('authentication required\n', { status: 401, headers: { 'WWW-Authenticate': 'Basic realm="nbs-test"' } })
      const url = new URL(req.url)
      const cgi = Bun.spawn(['git', 'http-backend'], {
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          GIT_PROJECT_ROOT: root,
          GIT_HTTP_EXPORT_ALL: '1',
          PATH_INFO: url.pathname,
          QUERY_STRING: url.search.slice(1),
          REQUEST_METHOD: req.method,
          CONTENT_TYPE: req.headers.get('content-type') ?? '',
          HTTP_CONTENT_ENCODING: req.headers.get('content-encoding') ?? '',
          GIT_PROTOCOL: req.headers.get('git-protocol') ?? '',
          REMOTE_USER: user,
        },
        stdin: req.body ? new Uint8Array(await req.arrayBuffer()) : 'ignore',
        stdout: 'pipe',
        stderr: 'ignore',
      })
      const out = Buffer.from(await new Response(cgi.stdout).arrayBuffer())
      const split = out.indexOf('\r\n\r\n')
      const headers = new Headers()
      let status = 200
      for (const line of out.subarray(0, split).toString().split('\r\n')) {
        const i = line.indexOf(':')
        const [k, v] = [line.slice(0, i).trim(), line.slice(i + 1).trim()]
        if (k.toLowerCase() === 'status') status = Number.parseInt(v, 10)
        else if (k) headers.append(k, v)
      }
      return new Response(out.subarray(split + 4), { status, headers })
    },
  })
}
