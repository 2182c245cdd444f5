package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

func TestLifecycleSuccessOrdering(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "")
	job := batchJob("ok",
		task("build", `echo build-out; echo build-err >&2; printf built > "$NOMAD_ALLOC_DIR/built"; sleep 0.3`, "prestart"),
		task("test-0", `test -f "$NOMAD_ALLOC_DIR/built" && echo test0-saw-build; sleep 0.3`, ""),
		task("test-1", `echo test1; sleep 0.3`, ""),
		task("publish", `printf sha256:abc > "$NOMAD_ALLOC_DIR/digest"`, "poststop"))
	job["Meta"] = M{"nbs.request": `{"repo":"x"}`}
	r := a.register(job)
	if r["EvalID"] == "" || r["JobModifyIndex"] == nil {
		t.Fatalf("register answer: %v", r)
	}
	al := a.waitAlloc("ok", 20*time.Second, done)
	if al["ClientStatus"] != "complete" || al["ClientDescription"] != "All tasks have completed" {
		t.Fatalf("alloc: %s", summarize(al))
	}
	ts := taskStates(al)
	for _, n := range []string{"build", "test-0", "test-1", "publish"} {
		if ts[n]["Failed"] != false || lastEvent(al, n, "Terminated")["ExitCode"] != float64(0) {
			t.Errorf("%s: %v", n, ts[n])
		}
		if got := eventTypes(al, n); !slices.Equal(got, []string{"Received", "Task Setup", "Started", "Terminated"}) {
			t.Errorf("%s events %v", n, got)
		}
	}
	str := func(n, k string) string { return ts[n][k].(string) }
	if !(str("build", "FinishedAt") <= min(str("test-0", "StartedAt"), str("test-1", "StartedAt"))) {
		t.Errorf("prestart did not finish before main tasks started")
	}
	if !(max(str("test-0", "FinishedAt"), str("test-1", "FinishedAt")) <= str("publish", "StartedAt")) {
		t.Errorf("poststop started before main tasks ended")
	}
	id := al["ID"].(string)
	if out := a.logs(id, "build", "stdout", ""); out != "build-out\n" {
		t.Errorf("stdout %q", out)
	}
	if out := a.logs(id, "build", "stderr", ""); out != "build-err\n" {
		t.Errorf("stderr %q", out)
	}
	if out := a.logs(id, "build", "stdout", "&origin=end&offset=4"); out != "out\n" {
		t.Errorf("tail %q", out)
	}
	if out := a.logs(id, "test-0", "stdout", ""); !strings.Contains(out, "test0-saw-build") {
		t.Errorf("shared alloc dir: %q", out)
	}
	code, _, b := a.do("GET", "/v1/client/fs/cat/"+id+"?path=alloc/digest", nil)
	if code != 200 || string(b) != "sha256:abc" {
		t.Errorf("cat: %d %q", code, b)
	}
	if code, _, b := a.do("GET", "/v1/client/fs/cat/"+id+"?path=alloc/nope", nil); code != 200 || !strings.HasSuffix(string(b), "/alloc/nope: no such file or directory") {
		t.Errorf("cat missing file: %d %s", code, b)
	}
	var j M
	a.getJSON("/v1/job/ok", &j)
	if j["Status"] != "dead" || j["Meta"].(map[string]any)["nbs.request"] != `{"repo":"x"}` || j["Priority"] != float64(50) || j["Region"] != "global" {
		t.Errorf("job: %v %v", j["Status"], j["Meta"])
	}
	var sum M
	a.getJSON("/v1/job/ok/summary", &sum)
	if sum["Summary"].(map[string]any)["build"].(map[string]any)["Complete"] != float64(1) {
		t.Errorf("summary %v", sum)
	}
}

func TestPrestartFailureStillRunsPoststop(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "")
	a.register(batchJob("bf",
		task("build", `echo step; echo "boom: bad step" >&2; exit 3`, "prestart"),
		task("test-0", `echo test-ran`, ""),
		task("publish", `echo publish-ran`, "poststop")))
	al := a.waitAlloc("bf", 20*time.Second, done)
	ts := taskStates(al)
	if al["ClientStatus"] != "failed" || ts["build"]["Failed"] != true {
		t.Fatalf("%s", summarize(al))
	}
	term := lastEvent(al, "build", "Terminated")
	if term["ExitCode"] != float64(3) || term["DisplayMessage"] != "Exit Code: 3" {
		t.Errorf("terminated %v", term)
	}
	if got := eventTypes(al, "build"); !slices.Equal(got, []string{"Received", "Task Setup", "Started", "Terminated", "Not Restarting"}) {
		t.Errorf("build events %v", got)
	}
	if got := eventTypes(al, "test-0"); !slices.Equal(got, []string{"Received", "Sibling Task Failed", "Killing"}) {
		t.Errorf("test-0 events %v", got)
	}
	if ts["test-0"]["StartedAt"] != nil || ts["test-0"]["Failed"] != false || ts["test-0"]["FinishedAt"] == nil {
		t.Errorf("test-0 state %v", ts["test-0"])
	}
	if !started(al, "publish") || lastEvent(al, "publish", "Terminated")["ExitCode"] != float64(0) {
		t.Errorf("poststop did not run: %s", summarize(al))
	}
	if err := a.logs(al["ID"].(string), "build", "stderr", ""); !strings.Contains(err, "boom: bad step") {
		t.Errorf("stderr %q", err)
	}
}

func TestMainFailureKillsSiblings(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "")
	// test-1 ignores SIGTERM (and so does its background child): only the
	// SIGKILL after KillTimeout ends it, and the child must go too.
	a.register(batchJob("tf",
		task("build", `echo built`, "prestart"),
		task("test-0", `sleep 0.3; exit 7`, ""),
		task("test-1", `trap "" TERM; sleep 30 & sleep 30; echo never`, ""),
		task("publish", `echo publish-ran`, "poststop")))
	t0 := time.Now()
	al := a.waitAlloc("tf", 20*time.Second, done)
	if time.Since(t0) > 10*time.Second {
		t.Errorf("sibling was not killed promptly (%v)", time.Since(t0))
	}
	ts := taskStates(al)
	if al["ClientStatus"] != "failed" || ts["test-0"]["Failed"] != true || lastEvent(al, "test-0", "Terminated")["ExitCode"] != float64(7) {
		t.Fatalf("%s", summarize(al))
	}
	if got := eventTypes(al, "test-1"); !slices.Equal(got, []string{"Received", "Task Setup", "Started", "Sibling Task Failed", "Killing", "Terminated", "Killed"}) {
		t.Errorf("test-1 events %v", got)
	}
	term := lastEvent(al, "test-1", "Terminated")
	if term["ExitCode"] != float64(137) || term["Signal"] != float64(9) || term["DisplayMessage"] != "Exit Code: 137, Signal: 9" {
		t.Errorf("test-1 terminated %v", term)
	}
	if k := lastEvent(al, "test-1", "Killing"); k["DisplayMessage"] != "Sent interrupt. Waiting 1s before force killing" || k["KillTimeout"] != float64(time.Second) {
		t.Errorf("killing %v", k)
	}
	if ts["test-1"]["Failed"] != false {
		t.Errorf("killed sibling marked Failed")
	}
	if !started(al, "publish") {
		t.Errorf("poststop did not run")
	}
	assertNoProcs(t, al["ID"].(string))
}

func TestStopJobDuringPrestart(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "")
	a.register(batchJob("kill",
		task("build", `sleep 300 & echo build-start; sleep 300`, "prestart"),
		task("test-0", `echo test-ran`, ""),
		task("publish", `echo publish-ran`, "poststop")))
	run := a.waitAlloc("kill", 10*time.Second, func(al M) bool { return taskStates(al)["build"]["State"] == "running" })
	code, _, b := a.do("DELETE", "/v1/job/kill", nil)
	if code != 200 || !strings.Contains(string(b), `"EvalID"`) || !strings.Contains(string(b), `"JobModifyIndex"`) {
		t.Fatalf("stop: %d %s", code, b)
	}
	al := a.waitAlloc("kill", 10*time.Second, done)
	if al["DesiredStatus"] != "stop" || al["ClientStatus"] != "complete" {
		t.Errorf("alloc %v/%v", al["DesiredStatus"], al["ClientStatus"])
	}
	if got := eventTypes(al, "build"); !slices.Equal(got, []string{"Received", "Task Setup", "Started", "Killing", "Terminated", "Killed"}) {
		t.Errorf("build events %v", got)
	}
	if got := eventTypes(al, "test-0"); !slices.Equal(got, []string{"Received", "Killing"}) || started(al, "test-0") {
		t.Errorf("test-0 events %v", got)
	}
	if taskStates(al)["build"]["Failed"] != false || !started(al, "publish") {
		t.Errorf("%s", summarize(al))
	}
	var j M
	a.getJSON("/v1/job/kill", &j)
	if j["Stop"] != true || j["Status"] != "dead" {
		t.Errorf("job Stop=%v Status=%v", j["Stop"], j["Status"])
	}
	assertNoProcs(t, run["ID"].(string))
}

func TestDriverFailure(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "")
	bad := task("build", "true", "prestart")
	bad["Config"] = M{"command": "/no/such/binary", "args": []string{"x"}}
	a.register(batchJob("drv", bad, task("test-0", "true", ""), task("publish", "echo p", "poststop")))
	al := a.waitAlloc("drv", 10*time.Second, done)
	if got := eventTypes(al, "build"); !slices.Equal(got, []string{"Received", "Task Setup", "Driver Failure", "Not Restarting"}) {
		t.Errorf("build events %v", got)
	}
	df := lastEvent(al, "build", "Driver Failure")
	if !strings.Contains(df["DriverError"].(string), `binary "/no/such/binary" could not be found`) {
		t.Errorf("driver error %v", df["DriverError"])
	}
	ts := taskStates(al)
	if ts["build"]["Failed"] != true || ts["build"]["StartedAt"] != nil || al["ClientStatus"] != "failed" || !started(al, "publish") {
		t.Errorf("%s", summarize(al))
	}
}

func TestInterpolationAndEnv(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "")
	tk := task("test-0", `echo "cwd=$(pwd)"; echo "a=$1"; echo "g=$GREETING"; echo "m=$NOMAD_META_build_id"; echo "mc=$NOMAD_META_build_id"; echo "dc=$NOMAD_DC mem=$NOMAD_MEMORY_LIMIT cpu=$NOMAD_CPU_LIMIT ns=$NOMAD_NAMESPACE jn=$NOMAD_JOB_NAME"; echo "path=$PATH"`, "")
	tk["Config"].(M)["args"] = []string{"-c", tk["Config"].(M)["args"].([]string)[1], "x", "${NOMAD_JOB_ID}-${meta.owner}-${attr.kernel.name}-${unknown.key}"}
	tk["Env"] = M{"GREETING": "hi ${NOMAD_TASK_NAME} on ${node.datacenter}"}
	job := batchJob("envjob", tk)
	job["Meta"] = M{"owner": "client-a", "build.id": "b1"}
	a.register(job)
	al := a.waitAlloc("envjob", 10*time.Second, done)
	out := a.logs(al["ID"].(string), "test-0", "stdout", "")
	for _, want := range []string{
		"/" + al["ID"].(string) + "/test-0\n",
		"a=envjob-client-a-linux-${unknown.key}\n",
		"g=hi test-0 on dc1\n",
		"m=b1\n",
		"dc=dc1 mem=64 cpu=100 ns=default jn=envjob\n",
		"path=/",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
}

func TestRestartPolicy(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "")
	// Fails on the first two runs, succeeds on the third.
	flaky := task("test-0", `n=$(cat "$NOMAD_ALLOC_DIR/n" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$NOMAD_ALLOC_DIR/n"; echo run-$n; [ $n -ge 3 ]`, "")
	job := batchJob("flaky", flaky)
	job["TaskGroups"].([]M)[0]["RestartPolicy"] = M{"Attempts": 2, "Mode": "fail", "Delay": int64(100 * time.Millisecond), "Interval": int64(time.Hour)}
	a.register(job)
	al := a.waitAlloc("flaky", 10*time.Second, done)
	ts := taskStates(al)["test-0"]
	if al["ClientStatus"] != "complete" || ts["Restarts"] != float64(2) || ts["Failed"] != false {
		t.Fatalf("%s restarts=%v", summarize(al), ts["Restarts"])
	}
	want := []string{"Received", "Task Setup", "Started", "Terminated", "Restarting", "Started", "Terminated", "Restarting", "Started", "Terminated"}
	if got := eventTypes(al, "test-0"); !slices.Equal(got, want) {
		t.Errorf("events %v", got)
	}
	if out := a.logs(al["ID"].(string), "test-0", "stdout", ""); out != "run-1\nrun-2\nrun-3\n" {
		t.Errorf("log %q", out)
	}
	// Attempts used up: Not Restarting with Nomad's reason, Failed.
	always := task("test-0", "exit 4", "")
	job = batchJob("always", always)
	job["TaskGroups"].([]M)[0]["RestartPolicy"] = M{"Attempts": 1, "Mode": "fail", "Delay": int64(50 * time.Millisecond), "Interval": int64(time.Hour)}
	a.register(job)
	al = a.waitAlloc("always", 10*time.Second, done)
	nr := lastEvent(al, "test-0", "Not Restarting")
	if al["ClientStatus"] != "failed" || nr == nil || nr["DisplayMessage"] != `Exceeded allowed attempts 1 in interval 1h0m0s and mode is "fail"` {
		t.Errorf("%s %v", summarize(al), nr)
	}
}

func TestStopAllocation(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "")
	a.register(batchJob("astop", task("test-0", `sleep 60`, ""), task("publish", `echo p`, "poststop")))
	run := a.waitAlloc("astop", 5*time.Second, func(al M) bool { return taskStates(al)["test-0"]["State"] == "running" })
	id := run["ID"].(string)
	if code, _, b := a.do("POST", "/v1/allocation/"+id+"/stop", nil); code != 200 || !strings.Contains(string(b), `"EvalID"`) {
		t.Fatalf("stop: %d %s", code, b)
	}
	al := a.waitAlloc("astop", 10*time.Second, done)
	if al["DesiredStatus"] != "stop" || al["ClientStatus"] != "complete" || !started(al, "publish") {
		t.Errorf("%v/%v %s", al["DesiredStatus"], al["ClientStatus"], summarize(al))
	}
	if got := eventTypes(al, "test-0"); !slices.Equal(got, []string{"Received", "Task Setup", "Started", "Killing", "Terminated", "Killed"}) {
		t.Errorf("events %v", got)
	}
	assertNoProcs(t, id)
	if code, _, _ := a.do("POST", "/v1/allocation/nope/stop", nil); code != 404 {
		t.Errorf("unknown alloc stop: %d", code)
	}
}

// TestStopBeforeTheFirstTask: a stop that lands between placement and the
// runner's first step (seen under load: the alloc never ended, its prestart
// task pending for ever). Every task that never runs is dead with a Killing
// event, the poststop task still runs, and the allocation ends.
func TestStopBeforeTheFirstTask(t *testing.T) {
	t.Parallel()
	a := startAgent(t, t.TempDir())
	job := batchJob("stop-first", task("build", "echo built", "prestart"), task("test-0", "true", ""), task("publish", "echo published", "poststop"))
	// Placed by the test below, not by the scheduler: no node meets this.
	job["Constraints"] = []M{{"LTarget": "${attr.kernel.name}", "RTarget": "plan9", "Operand": "="}}
	a.register(job)
	s := a.srv
	var j *api.Job
	var al *api.Allocation
	s.st.locked(func() {
		j = s.st.Jobs["stop-first"]
		al = s.newAlloc(s.nodes[0], j, j.TaskGroups[0], placement{evalID: "stop-first-eval"}, &api.AllocationMetric{})
		s.st.Allocs[al.ID] = al
	})
	ar := &allocRunner{s: s, node: s.nodeOf(al), id: al.ID, job: j, tg: j.TaskGroups[0], dir: s.allocDir(al), live: map[string]*taskRunner{}}
	s.runMu.Lock()
	s.runners[al.ID] = ar
	s.runMu.Unlock()
	ar.requestStop()
	ar.run()

	var got M
	a.getJSON("/v1/allocation/"+al.ID, &got)
	if got["ClientStatus"] != "complete" {
		t.Errorf("alloc %s", summarize(got))
	}
	for _, name := range []string{"build", "test-0"} {
		if st := taskStates(got)[name]; st["State"] != "dead" || lastEvent(got, name, "Killing") == nil || started(got, name) {
			t.Errorf("%s: %v %v", name, st["State"], eventTypes(got, name))
		}
	}
	if !started(got, "publish") || !strings.Contains(a.logs(al.ID, "publish", "stdout", ""), "published") {
		t.Errorf("publish did not run: %v", eventTypes(got, "publish"))
	}
}
