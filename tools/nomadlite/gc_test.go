package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestClientGCMaxAllocs: with gc_max_allocs 2, a new allocation makes the
// node collect its oldest finished ones (never a running one); the server
// still knows a collected allocation, the client fs answers as Nomad's
// client does for one it no longer has.
func TestClientGCMaxAllocs(t *testing.T) {
	t.Parallel()
	a := startAgentWith(t, Config{GCMaxAllocs: 2})
	run := func(job string, script string) string {
		a.register(batchJob(job, task("test-0", script, "")))
		return a.waitAlloc(job, 10*time.Second, func(al M) bool { return al["ClientStatus"] != "pending" })["ID"].(string)
	}
	has := func(id string) bool {
		_, err := os.Stat(filepath.Join(a.dir, "alloc", id))
		return err == nil
	}
	long := run("gc-long", "echo long > $NOMAD_ALLOC_DIR/out; sleep 30")
	first := run("gc-1", "echo one > $NOMAD_ALLOC_DIR/out")
	a.waitAlloc("gc-1", 10*time.Second, done)
	time.Sleep(100 * time.Millisecond) // let its runner exit
	if !has(first) || !has(long) {
		t.Fatalf("collected at the limit: first %v long %v", has(first), has(long))
	}
	second := run("gc-2", "echo two > $NOMAD_ALLOC_DIR/out; sleep 30")
	if has(first) || !has(long) || !has(second) {
		t.Fatalf("after a third alloc: first %v (want collected), long %v, second %v", has(first), has(long), has(second))
	}

	if a.getJSON("/v1/allocation/"+first, nil) != 200 {
		t.Errorf("the server forgot the collected alloc")
	}
	unknown := fmt.Sprintf("Unknown allocation %q", first)
	for path, want := range map[string]int{
		"/v1/client/fs/cat/" + first + "?path=alloc/out":                      200,
		"/v1/client/fs/ls/" + first + "?path=alloc":                           404,
		"/v1/client/fs/stat/" + first + "?path=alloc/out":                     404,
		"/v1/client/fs/logs/" + first + "?task=test-0&type=stdout&plain=true": 404,
	} {
		if code, _, b := a.do("GET", path, nil); code != want || string(b) != unknown {
			t.Errorf("%s: %d %q, want %d %q", path, code, b, want, unknown)
		}
	}
	if code, _, b := a.do("GET", "/v1/client/fs/cat/"+long+"?path=alloc/out", nil); code != 200 || string(b) != "long\n" {
		t.Errorf("running alloc: %d %q", code, b)
	}
	a.do("DELETE", "/v1/job/gc-long", nil)
	a.do("DELETE", "/v1/job/gc-2", nil)
}

// TestSystemGC: PUT /v1/system/gc collects dead jobs with their finished
// allocations and evaluations at once, and leaves what still runs.
func TestSystemGC(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "")
	a.register(batchJob("sysgc-dead", task("test-0", "true", "")))
	dead := a.waitAlloc("sysgc-dead", 10*time.Second, done)["ID"].(string)
	a.register(batchJob("sysgc-live", task("test-0", "sleep 30", "")))
	live := a.waitAlloc("sysgc-live", 10*time.Second, func(al M) bool { return taskStates(al)["test-0"]["State"] == "running" })["ID"].(string)
	time.Sleep(100 * time.Millisecond) // let the dead job's runner exit
	if code, _, b := a.do("GET", "/v1/system/gc", nil); code != 405 || string(b) != "Invalid method" {
		t.Errorf("GET: %d %q", code, b)
	}
	if code, _, b := a.do("PUT", "/v1/system/gc", nil); code != 200 || len(b) != 0 {
		t.Fatalf("PUT: %d %q", code, b)
	}
	if a.getJSON("/v1/job/sysgc-dead", nil) != 404 || a.getJSON("/v1/allocation/"+dead, nil) != 404 || len(a.evals("sysgc-dead")) != 0 {
		t.Errorf("the dead job, its alloc or evals survived")
	}
	if _, err := os.Stat(filepath.Join(a.dir, "alloc", dead)); !os.IsNotExist(err) {
		t.Errorf("collected alloc dir left: %v", err)
	}
	if a.getJSON("/v1/job/sysgc-live", nil) != 200 || a.getJSON("/v1/allocation/"+live, nil) != 200 || len(a.evals("sysgc-live")) == 0 {
		t.Errorf("the running job was collected")
	}
	a.do("DELETE", "/v1/job/sysgc-live", nil)
}

func (a *testAgent) evals(job string) []M {
	var evs []M
	var all []M
	a.getJSON("/v1/evaluations", &all)
	for _, e := range all {
		if e["JobID"] == job {
			evs = append(evs, e)
		}
	}
	return evs
}
