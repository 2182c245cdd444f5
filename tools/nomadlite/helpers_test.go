package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

type testAgent struct {
	t    *testing.T
	srv  *Server
	http *httptest.Server
	dir  string
}

// startAgent runs a nomadlite server in-process with its own data dir and a
// buildah-cache host volume; setup adjusts the server before it serves.
func startAgent(t *testing.T, dataDir string, setup ...func(*Server)) *testAgent {
	t.Helper()
	return startAgentWith(t, Config{DataDir: dataDir}, setup...)
}

// startAgentWith is startAgent with more of the agent's configuration.
func startAgentWith(t *testing.T, cfg Config, setup ...func(*Server)) *testAgent {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	cfg.Bind, cfg.GCAge = "127.0.0.1", time.Hour
	cfg.HostVolumes = map[string]string{"buildah-cache": t.TempDir()}
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range setup {
		f(srv)
	}
	ta := &testAgent{t: t, srv: srv, http: httptest.NewServer(srv.Handler()), dir: cfg.DataDir}
	t.Cleanup(ta.close)
	return ta
}

// close stops the agent (first, so that follow streams end) and releases the
// secrets mounts of allocations it leaves behind, which a Nomad client keeps
// until GC but a test's temp dir cannot outlive.
func (a *testAgent) close() {
	if a.http != nil {
		a.srv.Close()
		a.http.Close()
		a.http = nil
		for _, n := range a.srv.nodes {
			ents, _ := os.ReadDir(n.allocRoot)
			for _, e := range ents {
				releaseSecrets(filepath.Join(n.allocRoot, e.Name()))
			}
		}
	}
}

func (a *testAgent) do(method, path string, body any) (int, http.Header, []byte) {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.http.URL+path, rd)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func (a *testAgent) getJSON(path string, out any) int {
	a.t.Helper()
	code, _, b := a.do("GET", path, nil)
	if code == 200 && out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			a.t.Fatalf("GET %s: %v: %s", path, err, b)
		}
	}
	return code
}

type M = map[string]any

func task(name, script, hook string) M {
	t := M{
		"Name": name, "Driver": "raw_exec",
		"Config":      M{"command": "/bin/sh", "args": []string{"-c", script}},
		"Resources":   M{"CPU": 100, "MemoryMB": 64},
		"KillTimeout": int64(time.Second),
		"LogConfig":   M{"MaxFiles": 2, "MaxFileSizeMB": 5},
	}
	if hook != "" {
		t["Lifecycle"] = M{"Hook": hook, "Sidecar": false}
	}
	return t
}

func batchJob(id string, tasks ...M) M {
	return M{
		"ID": id, "Name": id, "Type": "batch", "Datacenters": []string{"*"},
		"TaskGroups": []M{{
			"Name": "build", "Count": 1,
			"RestartPolicy":    M{"Attempts": 0, "Mode": "fail"},
			"ReschedulePolicy": M{"Attempts": 0, "Unlimited": false},
			"EphemeralDisk":    M{"SizeMB": 100},
			"Tasks":            tasks,
		}},
	}
}

func (a *testAgent) register(job M) M {
	a.t.Helper()
	code, _, b := a.do("PUT", "/v1/jobs", M{"Job": job})
	if code != 200 {
		a.t.Fatalf("register: %d %s", code, b)
	}
	var r M
	_ = json.Unmarshal(b, &r)
	return r
}

func (a *testAgent) allocs(jobID string) []M {
	var out []M
	a.getJSON("/v1/job/"+jobID+"/allocations", &out)
	return out
}

// waitAlloc polls the job's first allocation until pred holds.
func (a *testAgent) waitAlloc(jobID string, timeout time.Duration, pred func(M) bool) M {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	var last M
	for time.Now().Before(deadline) {
		for _, stub := range a.allocs(jobID) {
			var full M
			if a.getJSON("/v1/allocation/"+stub["ID"].(string), &full) == 200 {
				last = full
				if pred(full) {
					return full
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	a.t.Fatalf("allocation of %s did not reach the expected state; last: %s", jobID, summarize(last))
	return nil
}

func done(al M) bool {
	if al == nil {
		return false
	}
	switch al["ClientStatus"] {
	case "complete", "failed", "lost":
	default:
		return false
	}
	for _, ts := range taskStates(al) {
		if ts["State"] != "dead" {
			return false
		}
	}
	return true
}

func taskStates(al M) map[string]M {
	out := map[string]M{}
	if m, ok := al["TaskStates"].(map[string]any); ok {
		for k, v := range m {
			out[k] = v.(map[string]any)
		}
	}
	return out
}

func eventTypes(al M, task string) []string {
	var out []string
	evs, _ := taskStates(al)[task]["Events"].([]any)
	for _, e := range evs {
		out = append(out, e.(map[string]any)["Type"].(string))
	}
	return out
}

func lastEvent(al M, task, typ string) M {
	evs, _ := taskStates(al)[task]["Events"].([]any)
	for i := len(evs) - 1; i >= 0; i-- {
		if e := evs[i].(map[string]any); e["Type"] == typ {
			return e
		}
	}
	return nil
}

func summarize(al M) string {
	if al == nil {
		return "<none>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "ClientStatus=%v", al["ClientStatus"])
	for name := range taskStates(al) {
		fmt.Fprintf(&b, " %s:%v%v", name, taskStates(al)[name]["State"], eventTypes(al, name))
		// A failure's own words, so that a failed run says why.
		if e := lastEvent(al, name, "Driver Failure"); e != nil {
			fmt.Fprintf(&b, " (%v)", e["DriverError"])
		}
	}
	return b.String()
}

func started(al M, task string) bool {
	v, _ := taskStates(al)[task]["StartedAt"].(string)
	return v != "" && !strings.HasPrefix(v, "0001-")
}

func (a *testAgent) logs(allocID, task, kind string, extra string) string {
	a.t.Helper()
	code, _, b := a.do("GET", fmt.Sprintf("/v1/client/fs/logs/%s?task=%s&type=%s&plain=true%s", allocID, task, kind, extra), nil)
	if code != 200 {
		a.t.Fatalf("logs %s/%s: %d %s", task, kind, code, b)
	}
	return string(b)
}

// procsOfAlloc lists live processes whose environment carries the alloc's
// NOMAD_ALLOC_ID: what is left of the allocation in the process table.
func procsOfAlloc(allocID string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	needle := []byte("NOMAD_ALLOC_ID=" + allocID + "\x00")
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !bytes.Contains(env, needle) {
			continue
		}
		if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && bytes.Contains(st, []byte(") Z ")) {
			continue // a zombie is already dead
		}
		cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		out = append(out, e.Name()+":"+strings.ReplaceAll(string(cmd), "\x00", " "))
	}
	return out
}

func assertNoProcs(t *testing.T, allocID string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		left := procsOfAlloc(allocID)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes of alloc %s left behind: %v", allocID, left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func constraintOf(c M) *api.Constraint {
	return &api.Constraint{LTarget: c["L"].(string), Operand: c["O"].(string), RTarget: c["R"].(string)}
}
