package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func (a *testAgent) allocDirOf(id string) string {
	return lockedValue(a.srv.st, func() string { return a.srv.allocDir(a.srv.st.Allocs[id]) })
}

// socketClient speaks HTTP over a task's api.sock.
func socketClient(sock string) *http.Client {
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
}

func socketGet(t *testing.T, c *http.Client, path, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://localhost"+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s over the socket: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// identityJob's task writes the NOMAD_TOKEN and NOMAD_UNIX_ADDR it was given
// into the alloc dir, then waits for the file "go" there.
func identityJob(id string) M {
	tk := task("main", `printf %s "$NOMAD_TOKEN" > "$NOMAD_ALLOC_DIR/env-token"; printf %s "$NOMAD_UNIX_ADDR" > "$NOMAD_ALLOC_DIR/unix-addr"; while ! test -f "$NOMAD_ALLOC_DIR/go"; do sleep 0.1; done`, "")
	tk["Identity"] = M{"Name": "default", "Env": true, "File": true, "Audience": []string{"nomadproject.io"}}
	return batchJob(id, tk)
}

// shortDataDir keeps socket paths under the kernel's 108 bytes.
func shortDataDir(t *testing.T) string {
	d, err := os.MkdirTemp("", "nl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}

func TestTaskAPI(t *testing.T) {
	t.Parallel()
	a := startAgentWith(t, Config{DataDir: shortDataDir(t)})
	a.register(identityJob("taskapi"))
	al := a.waitAlloc("taskapi", 5*time.Second, func(al M) bool { return al["ClientStatus"] == "running" })
	id := al["ID"].(string)
	dir := a.allocDirOf(id)
	var envToken, fileToken []byte
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && len(envToken) == 0 {
		envToken, _ = os.ReadFile(filepath.Join(dir, "alloc", "env-token"))
		time.Sleep(50 * time.Millisecond)
	}
	fileToken, _ = os.ReadFile(filepath.Join(dir, "main", "secrets", "nomad_token"))
	if len(envToken) == 0 || string(envToken) != string(fileToken) || strings.Count(string(envToken), ".") != 2 {
		t.Fatalf("NOMAD_TOKEN %q, secrets/nomad_token %q", envToken, fileToken)
	}
	sock := filepath.Join(dir, "main", "secrets", "api.sock")
	if addr, _ := os.ReadFile(filepath.Join(dir, "alloc", "unix-addr")); string(addr) != "unix://"+filepath.Join(dir, "main", "secrets")+"/api.sock" {
		t.Errorf("NOMAD_UNIX_ADDR %q", addr)
	}
	c := socketClient(sock)
	token := string(envToken)
	code, body := socketGet(t, c, "/v1/allocation/"+id, token)
	var got M
	_ = json.Unmarshal([]byte(body), &got)
	if code != 200 || got["ID"] != id {
		t.Errorf("with the token: %d %.200s", code, body)
	}
	for _, p := range []string{"/v1/job/taskapi", "/v1/node/" + al["NodeID"].(string)} {
		if code, body := socketGet(t, c, p, token); code != 200 {
			t.Errorf("%s: %d %.200s", p, code, body)
		}
	}
	req, _ := http.NewRequest("GET", "http://localhost/v1/job/taskapi", nil)
	req.Header.Set("X-Nomad-Token", token)
	if resp, err := c.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("X-Nomad-Token: %v %v", resp, err)
	}
	if code, body := socketGet(t, c, "/v1/allocation/"+id, ""); code != 401 || body != "Unauthorized" {
		t.Errorf("without a token: %d %q", code, body)
	}
	if code, body := socketGet(t, c, "/v1/allocation/"+id, "not-a-token"); code != 403 || body != "Forbidden" {
		t.Errorf("unknown token: %d %q", code, body)
	}
	// The agent's own address needs no token: nomadlite has no ACLs.
	if code := a.getJSON("/v1/allocation/"+id, nil); code != 200 {
		t.Errorf("HTTP API: %d", code)
	}
	_ = os.WriteFile(filepath.Join(dir, "alloc", "go"), nil, 0o644)
	a.waitAlloc("taskapi", 5*time.Second, done)
	if _, err := net.Dial("unix", sock); err == nil {
		t.Errorf("socket still served after the task ended")
	}
	if code, _, _ := a.do("GET", "/v1/allocation/"+id, nil); code != 200 {
		t.Errorf("agent API after the task: %d", code)
	}
}

func TestTaskAPIOfPartitionedNodeFails(t *testing.T) {
	t.Parallel()
	a := startAgentWith(t, Config{DataDir: shortDataDir(t), Nodes: 2, HeartbeatTTL: time.Hour, RPCHoldTimeout: 500 * time.Millisecond})
	a.register(identityJob("cutapi"))
	al := a.waitAlloc("cutapi", 5*time.Second, func(al M) bool { return al["ClientStatus"] == "running" })
	id := al["ID"].(string)
	dir := a.allocDirOf(id)
	var token []byte
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && len(token) == 0 {
		token, _ = os.ReadFile(filepath.Join(dir, "main", "secrets", "nomad_token"))
		time.Sleep(50 * time.Millisecond)
	}
	c := socketClient(filepath.Join(dir, "main", "secrets", "api.sock"))
	a.cut(al["NodeName"].(string), false)
	start := time.Now()
	code, body := socketGet(t, c, "/v1/allocation/"+id, string(token))
	if took := time.Since(start); code != 500 || body != "Server error authenticating request\n" || took < 400*time.Millisecond || took > 3*time.Second {
		t.Errorf("cut off: %d %q after %v", code, body, took)
	}
	a.cut(al["NodeName"].(string), true)
	if code, body := socketGet(t, c, "/v1/allocation/"+id, string(token)); code != 200 {
		t.Errorf("healed: %d %.200s", code, body)
	}
	_ = os.WriteFile(filepath.Join(dir, "alloc", "go"), nil, 0o644)
	a.waitAlloc("cutapi", 5*time.Second, done)
}

func TestTaskAPISocketPathTooLong(t *testing.T) {
	t.Parallel()
	long := filepath.Join(t.TempDir(), strings.Repeat("d", 60))
	a := startAgentWith(t, Config{DataDir: long})
	tk := task("main", `test -n "$NOMAD_TOKEN" && test -z "$NOMAD_UNIX_ADDR"`, "")
	tk["Identity"] = M{"Name": "default", "Env": true}
	a.register(batchJob("longpath", tk))
	al := a.waitAlloc("longpath", 5*time.Second, done)
	if al["ClientStatus"] != "complete" {
		t.Errorf("task with a too long socket path: %s", summarize(al))
	}
	if _, err := os.Stat(filepath.Join(a.allocDirOf(al["ID"].(string)), "main", "secrets", "api.sock")); err == nil {
		t.Errorf("a socket was made")
	}
}
