package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"
)

// maxUnixSocketPath is Linux's sun_path: 108 bytes with the final NUL.
const maxUnixSocketPath = 107

// issueToken makes the task's workload identity: a JWT-shaped string, as
// Nomad's is, whose signature is random bytes. nomadlite signs nothing; it
// only knows its own tokens, so any other string is refused.
func (s *Server) issueToken(ar *allocRunner, t *api.Task) string {
	enc := base64.RawURLEncoding
	header, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": newUUID(), "typ": "JWT"})
	nowUnix := time.Now().Unix()
	claims, _ := json.Marshal(map[string]any{
		"aud": []string{"nomadproject.io"}, "iat": nowUnix, "nbf": nowUnix, "jti": newUUID(),
		"nomad_allocation_id": ar.id, "nomad_job_id": deref(ar.job.ID), "nomad_namespace": "default", "nomad_task": t.Name,
		"sub": "global:default:" + deref(ar.job.ID) + ":" + deref(ar.tg.Name) + ":" + t.Name + ":default",
	})
	var sig [64]byte
	_, _ = rand.Read(sig[:])
	token := enc.EncodeToString(header) + "." + enc.EncodeToString(claims) + "." + enc.EncodeToString(sig[:])
	s.tokMu.Lock()
	s.tokens[token] = struct{}{}
	s.tokMu.Unlock()
	return token
}

func (s *Server) revokeToken(token string) {
	s.tokMu.Lock()
	delete(s.tokens, token)
	s.tokMu.Unlock()
}

// taskAPI gives the task its identity (NOMAD_TOKEN with identity.env, the
// file secrets/nomad_token with identity.file) and serves the Task API on
// secrets/api.sock for as long as the task runs. The returned stop closes
// the socket and forgets the token.
func (ar *allocRunner) taskAPI(t *api.Task, taskDir string, env map[string]string) (stop func()) {
	s := ar.s
	token := s.issueToken(ar, t)
	secrets := filepath.Join(taskDir, "secrets")
	if t.Identity != nil && t.Identity.Env {
		env["NOMAD_TOKEN"] = token
	}
	if t.Identity != nil && t.Identity.File {
		if err := os.WriteFile(filepath.Join(secrets, "nomad_token"), []byte(token), 0o644); err != nil {
			logf("alloc %s task %s: writing nomad_token: %v", ar.id[:8], t.Name, err)
		}
	}
	sock := filepath.Join(secrets, "api.sock")
	if len(sock) > maxUnixSocketPath {
		// The kernel would refuse or truncate the name; the task runs without
		// the socket, as Nomad's client lets it.
		logf("alloc %s task %s: Task API socket path too long (%d bytes, max %d): %s; no socket", ar.id[:8], t.Name, len(sock), maxUnixSocketPath, sock)
		return func() { s.revokeToken(token) }
	}
	_ = os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		logf("alloc %s task %s: Task API socket: %v", ar.id[:8], t.Name, err)
		return func() { s.revokeToken(token) }
	}
	// Any user a task runs as (a container's too) may connect; the token,
	// not the socket's mode, is the check.
	_ = os.Chmod(sock, 0o666)
	env["NOMAD_UNIX_ADDR"] = "unix://" + env["NOMAD_SECRETS_DIR"] + "/api.sock"
	hs := &http.Server{Handler: s.taskAPIAuth(ar.node, s.Handler()), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logf("alloc %s task %s: Task API: %v", ar.id[:8], t.Name, err)
		}
	}()
	return func() {
		_ = hs.Close()
		s.revokeToken(token)
	}
}

// taskAPIAuth is Nomad's Task API authentication on node n, which holds
// whether or not ACLs are enabled: no token 401, a token the servers do not
// know 403, and while n cannot reach the servers (which resolve the token)
// a 500 once the client's RPC hold timeout has passed.
func (s *Server) taskAPIAuth(n *clientNode, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := r.Header.Get("X-Nomad-Token")
		if b, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && token == "" {
			token = strings.TrimSpace(b)
		}
		if token == "" {
			httpError(w, http.StatusUnauthorized, http.StatusText(http.StatusUnauthorized))
			return
		}
		if !s.awaitServers(r, n) {
			httpError(w, 500, "Server error authenticating request\n")
			return
		}
		s.tokMu.Lock()
		_, ok := s.tokens[token]
		s.tokMu.Unlock()
		if !ok {
			httpError(w, http.StatusForbidden, http.StatusText(http.StatusForbidden))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// awaitServers is a client's RPC to its servers: retried for the hold
// timeout while the node is cut off. False: no server answered.
func (s *Server) awaitServers(r *http.Request, n *clientNode) bool {
	deadline := time.Now().Add(s.cfg.RPCHoldTimeout)
	for s.partitioned(n) {
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-r.Context().Done():
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
	return true
}
