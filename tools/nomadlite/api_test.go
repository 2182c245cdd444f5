package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestTemplatesWithNomadVar(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "")
	code, _, b := a.do("PUT", "/v1/var/nomad/jobs/tmpl", M{"Path": "nomad/jobs/tmpl", "Items": M{"password": "s3cret", "user": "bob"}})
	if code != 200 || !strings.Contains(string(b), `"ModifyIndex"`) {
		t.Fatalf("put var: %d %s", code, b)
	}
	pub := task("publish", `echo "pw=$REG_PASSWORD u=$REG_USER"; cat secrets/creds.env | wc -l; stat -c %a secrets/creds.env; cat local/info.txt`, "")
	pub["Templates"] = []M{
		{"EmbeddedTmpl": `{{ with nomadVar "nomad/jobs/tmpl" }}REG_PASSWORD={{ .password }}
REG_USER={{ .user }}{{ end }}
`, "DestPath": "secrets/creds.env", "Envvars": true, "Perms": "0600"},
		{"EmbeddedTmpl": `task=[[ env "NOMAD_TASK_NAME" ]] b64=[[ base64Encode "hi" ]] json=[[ toJSON "x" ]]`, "DestPath": "local/info.txt",
			"LeftDelim": "[[", "RightDelim": "]]"},
	}
	sib := task("test-0", `echo "sib=[$REG_PASSWORD]"`, "")
	a.register(batchJob("tmpl", pub, sib))
	al := a.waitAlloc("tmpl", 10*time.Second, done)
	id := al["ID"].(string)
	out := a.logs(id, "publish", "stdout", "")
	for _, want := range []string{"pw=s3cret u=bob", "\n2\n", "\n600\n", "task=publish b64=aGk= json=\"x\""} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in %q", want, out)
		}
	}
	if s := a.logs(id, "test-0", "stdout", ""); s != "sib=[]\n" {
		t.Errorf("sibling saw %q", s)
	}
	_, _, jb := a.do("GET", "/v1/job/tmpl", nil)
	if strings.Contains(string(jb), "s3cret") {
		t.Errorf("job spec holds the secret")
	}
	// A variable that does not exist blocks the task: pending with a Template
	// event naming it, until the variable appears...
	miss := task("test-0", `echo "x=$X"`, "")
	miss["Templates"] = []M{{"EmbeddedTmpl": `{{ with nomadVar "nomad/jobs/later" }}X={{ .x }}{{ end }}`, "DestPath": "secrets/x.env", "Envvars": true}}
	a.register(batchJob("tmpl-missing", miss))
	waiting := func(al M) bool { return lastEvent(al, "test-0", "Template") != nil }
	a.waitAlloc("tmpl-missing", 5*time.Second, waiting)
	time.Sleep(300 * time.Millisecond)
	al = a.waitAlloc("tmpl-missing", time.Second, waiting)
	ts := taskStates(al)["test-0"]
	if ev := lastEvent(al, "test-0", "Template"); al["ClientStatus"] != "pending" || ts["State"] != "pending" || ts["Failed"] != false ||
		ev["DisplayMessage"] != "Missing: nomad.var.block(nomad/jobs/later@default.global)" || ev["FailsTask"] != false {
		t.Errorf("missing var: %s", summarize(al))
	}
	a.do("PUT", "/v1/var/nomad/jobs/later", M{"Items": M{"x": "now"}})
	al = a.waitAlloc("tmpl-missing", 5*time.Second, done)
	if out := a.logs(al["ID"].(string), "test-0", "stdout", ""); al["ClientStatus"] != "complete" || out != "x=now\n" {
		t.Errorf("after the variable appeared: %s %q", summarize(al), out)
	}
	// ...or a stop kills it: Killing, dead, never started, not failed.
	never := task("test-0", "true", "")
	never["Templates"] = []M{{"EmbeddedTmpl": `{{ with nomadVar "nomad/jobs/never" }}X={{ .x }}{{ end }}`, "DestPath": "secrets/x.env"}}
	a.register(batchJob("tmpl-never", never))
	a.waitAlloc("tmpl-never", 5*time.Second, waiting)
	a.do("DELETE", "/v1/job/tmpl-never", nil)
	al = a.waitAlloc("tmpl-never", 5*time.Second, done)
	if got := eventTypes(al, "test-0"); al["ClientStatus"] != "complete" || started(al, "test-0") || taskStates(al)["test-0"]["Failed"] != false ||
		!slices.Equal(got, []string{"Received", "Task Setup", "Template", "Killing"}) {
		t.Errorf("stopped while waiting for a variable: %s", summarize(al))
	}
	// A malformed template is refused at register and creates nothing.
	broken := task("test-0", "true", "")
	broken["Templates"] = []M{{"EmbeddedTmpl": `{{ with nomadVar "x" }}`, "DestPath": "local/x"}}
	code, _, b = a.do("PUT", "/v1/jobs", M{"Job": batchJob("tmpl-broken", broken)})
	if code != 500 || !strings.Contains(string(b), "Template 1 validation failed") {
		t.Errorf("broken template register: %d %s", code, b)
	}
	if code := a.getJSON("/v1/job/tmpl-broken", nil); code != 404 {
		t.Errorf("broken job was created: %d", code)
	}
}

func TestVariables(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "")
	code, _, b := a.do("PUT", "/v1/var/app/one?cas=0", M{"Items": M{"k": "v1"}})
	var v1 M
	_ = json.Unmarshal(b, &v1)
	if code != 200 || v1["Path"] != "app/one" || v1["Namespace"] != "default" {
		t.Fatalf("create: %d %s", code, b)
	}
	// cas=0 on an existing variable conflicts and returns the current one.
	code, _, b = a.do("PUT", "/v1/var/app/one?cas=0", M{"Items": M{"k": "v2"}})
	if code != 409 || !strings.Contains(string(b), `"v1"`) {
		t.Errorf("cas conflict: %d %s", code, b)
	}
	code, _, _ = a.do("PUT", fmt.Sprintf("/v1/var/app/one?cas=%d", int(v1["ModifyIndex"].(float64))), M{"Items": M{"k": "v2"}})
	if code != 200 {
		t.Errorf("cas update: %d", code)
	}
	a.do("PUT", "/v1/var/other/x", M{"Items": M{"a": "b"}})
	var list []M
	a.getJSON("/v1/vars?prefix=app/", &list)
	if len(list) != 1 || list[0]["Path"] != "app/one" {
		t.Errorf("list: %v", list)
	}
	if _, has := list[0]["Items"]; has {
		t.Errorf("list carries Items")
	}
	var got M
	a.getJSON("/v1/var/app/one", &got)
	if got["Items"].(map[string]any)["k"] != "v2" {
		t.Errorf("read: %v", got)
	}
	if code, _, _ := a.do("DELETE", "/v1/var/app/one?cas=1", nil); code != 409 {
		t.Errorf("delete with stale cas: %d", code)
	}
	if code, h, b := a.do("DELETE", "/v1/var/app/one", nil); code != 204 || len(b) != 0 || h.Get("X-Nomad-Index") == "" {
		t.Errorf("delete: %d %q index %q", code, b, h.Get("X-Nomad-Index"))
	}
	if code := a.getJSON("/v1/var/app/one", nil); code != 404 {
		t.Errorf("deleted var still there: %d", code)
	}
}

func TestValidationErrors(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "")
	noDriver := task("t", "true", "")
	delete(noDriver, "Driver")
	badHook := task("t", "true", "sometime")
	cases := []struct {
		name string
		job  M
		want string
	}{
		{"missing id", M{"ID": "", "Name": "x", "Datacenters": []string{"*"}, "Type": "batch", "TaskGroups": []M{{"Name": "g", "Tasks": []M{task("t", "true", "")}}}},
			"1 error occurred:\n\t* Missing job ID\n\n"},
		{"no groups", M{"ID": "v-nogroups", "Type": "batch"}, "* Missing job task groups"},
		{"no driver", batchJob("v-nodriver", noDriver), "* Task t validation failed: 1 error occurred:\n\t* Missing task driver"},
		{"bad hook", batchJob("v-hook", badHook), "invalid hook: sometime"},
		{"dup task", batchJob("v-duptask", task("t", "true", ""), task("t", "true", "")), "* Task 2 redefines 't' from task 1"},
		{"dup group", func() M {
			j := batchJob("v-dupgroup", task("t", "true", ""))
			g := j["TaskGroups"].([]M)[0]
			j["TaskGroups"] = []M{g, g}
			return j
		}(), "* Job task group 2 redefines 'build' from group 1"},
		{"undefined volume", func() M {
			tk := task("t", "true", "")
			tk["VolumeMounts"] = []M{{"Volume": "cache", "Destination": "/cache"}}
			return batchJob("v-volume", tk)
		}(), "* Task t has a volume mount (0) referencing undefined volume cache"},
		{"affinity weight", func() M {
			j := batchJob("v-affinity", task("t", "true", ""))
			j["Affinities"] = []M{{"LTarget": "${node.unique.name}", "RTarget": "x", "Operand": "=", "Weight": 101}}
			return j
		}(), "* Affinity 1 validation failed: Affinity weight must be within the range [-100,100]"},
	}
	for _, c := range cases {
		code, _, b := a.do("PUT", "/v1/jobs", M{"Job": c.job})
		if code != 500 || !strings.Contains(string(b), c.want) {
			t.Errorf("%s: register %d %q, want 500 with %q", c.name, code, b, c.want)
		}
		var vr M
		code, _, b = a.do("PUT", "/v1/validate/job", M{"Job": c.job})
		_ = json.Unmarshal(b, &vr)
		errs, _ := vr["ValidationErrors"].([]any)
		if code != 200 || len(errs) == 0 || !strings.Contains(vr["Error"].(string), strings.TrimPrefix(c.want, "* ")) {
			t.Errorf("%s: validate %d %s", c.name, code, b)
		}
	}
	var jobs []M
	a.getJSON("/v1/jobs", &jobs)
	if len(jobs) != 0 {
		t.Errorf("invalid jobs were created: %v", jobs)
	}
	if code, _, b := a.do("PUT", "/v1/jobs", M{"Job": M{"Type": "batch"}}); code != 400 || string(b) != "Job ID hasn't been provided" {
		t.Errorf("nil ID: %d %s", code, b)
	}
	var vr M
	_, _, b := a.do("PUT", "/v1/validate/job", M{"Job": batchJob("fine", task("t", "true", ""))})
	_ = json.Unmarshal(b, &vr)
	if len(vr["ValidationErrors"].([]any)) != 0 || vr["Error"] != "" {
		t.Errorf("valid job: %s", b)
	}
}

func TestQueriesAndErrors(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "")
	big := strings.Repeat("x", 16*1024)
	job := batchJob("q", task("test-0", "echo hi", ""))
	job["Meta"] = M{"nbs.owner": "client-a", "nbs.request": big}
	a.register(job)
	a.waitAlloc("q", 10*time.Second, done)
	code, h, _ := a.do("GET", "/v1/job/q/allocations", nil)
	idx := h.Get("X-Nomad-Index")
	if code != 200 || idx == "" || h.Get("X-Nomad-KnownLeader") != "true" || h.Get("X-Nomad-LastContact") != "0" {
		t.Fatalf("headers %v", h)
	}
	t0 := time.Now()
	a.do("GET", "/v1/job/q/allocations?index="+idx+"&wait=1s", nil)
	if d := time.Since(t0); d < 900*time.Millisecond || d > 3*time.Second {
		t.Errorf("blocking query on unchanged index took %v", d)
	}
	// A change wakes a blocked query early.
	_, h, _ = a.do("GET", "/v1/jobs", nil)
	go func() { time.Sleep(200 * time.Millisecond); a.register(batchJob("q2", task("t", "true", ""))) }()
	t0 = time.Now()
	_, h2, _ := a.do("GET", "/v1/jobs?index="+h.Get("X-Nomad-Index")+"&wait=5s", nil)
	if d := time.Since(t0); d > 3*time.Second || h2.Get("X-Nomad-Index") == h.Get("X-Nomad-Index") {
		t.Errorf("blocking query not woken by a change: %v, index %s -> %s", d, h.Get("X-Nomad-Index"), h2.Get("X-Nomad-Index"))
	}
	var list []M
	a.getJSON("/v1/jobs?prefix=q&meta=true", &list)
	if len(list) != 2 || list[0]["Meta"].(map[string]any)["nbs.owner"] != "client-a" {
		t.Errorf("list meta: %v", len(list))
	}
	var noMeta []M
	a.getJSON("/v1/jobs?prefix=q", &noMeta)
	if _, has := noMeta[0]["Meta"]; has {
		t.Errorf("meta listed without meta=true")
	}
	var j M
	a.getJSON("/v1/job/q", &j)
	if j["Meta"].(map[string]any)["nbs.request"] != big {
		t.Errorf("16 KiB meta did not round-trip")
	}
	code, _, b := a.do("PUT", "/v1/jobs", M{"Job": job, "EnforceIndex": true, "JobModifyIndex": 0})
	if code != 500 || string(b) != "Enforcing job modify index 0: job already exists" {
		t.Errorf("enforce index: %d %s", code, b)
	}
	for path, want := range map[string]string{"/v1/job/nope": "job not found", "/v1/allocation/00000000-0000-0000-0000-000000000000": "alloc not found",
		"/v1/job/nope/summary": "job not found", "/v1/var/nope": "variable not found"} {
		if code, _, b := a.do("GET", path, nil); code != 404 || string(b) != want {
			t.Errorf("%s: %d %s", path, code, b)
		}
	}
	if code, _, b := a.do("GET", "/v1/acl/tokens", nil); code != 404 || !strings.Contains(string(b), "/v1/acl/tokens") {
		t.Errorf("unserved endpoint: %d %s", code, b)
	}
	if code, _, b := a.do("GET", "/v1/status/leader", nil); code != 200 || string(b) != `"127.0.0.1:4647"` {
		t.Errorf("leader: %d %s", code, b)
	}
	var nodes []M
	a.getJSON("/v1/nodes", &nodes)
	if len(nodes) != 1 || a.getJSON("/v1/node/"+nodes[0]["ID"].(string), nil) != 200 {
		t.Errorf("nodes %v", nodes)
	}
	if code := a.getJSON("/v1/agent/self", nil); code != 200 {
		t.Errorf("agent/self %d", code)
	}
	a.do("DELETE", "/v1/job/q?purge=true", nil)
	if code := a.getJSON("/v1/job/q", nil); code != 404 {
		t.Errorf("purged job answers %d", code)
	}
	if n := len(a.allocs("q")); n != 0 {
		t.Errorf("purged job keeps %d allocs", n)
	}
}

func TestLogsFollow(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "")
	a.register(batchJob("follow", task("test-0", `for i in 1 2 3 4 5; do echo tick-$i; sleep 0.3; done`, "")))
	al := a.waitAlloc("follow", 5*time.Second, func(al M) bool { return taskStates(al)["test-0"]["State"] == "running" })
	id := al["ID"].(string)
	t0 := time.Now()
	resp, err := http.Get(a.http.URL + "/v1/client/fs/logs/" + id + "?task=test-0&type=stdout&plain=true&follow=true&origin=start&offset=0")
	if err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(resp.Body)
	first, _ := rd.ReadString('\n')
	if first != "tick-1\n" || time.Since(t0) > time.Second {
		t.Errorf("first line %q after %v", first, time.Since(t0))
	}
	var rest string
	for !strings.HasSuffix(rest, "tick-5\n") {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended before the last line: %q: %v", rest, err)
		}
		rest += line
	}
	resp.Body.Close()
	// JSON frames: base64 Data, File, Offset.
	code, _, b := a.do("GET", "/v1/client/fs/logs/"+id+"?task=test-0&type=stdout", nil)
	dec := json.NewDecoder(strings.NewReader(string(b)))
	var all string
	for {
		var f struct {
			Data   string
			File   string
			Offset int64
		}
		if err := dec.Decode(&f); err != nil {
			break
		}
		d, _ := base64.StdEncoding.DecodeString(f.Data)
		all += string(d)
		if f.File != "alloc/logs/test-0.stdout.0" {
			t.Errorf("frame file %q", f.File)
		}
	}
	if code != 200 || !strings.HasPrefix(all, "tick-1\n") {
		t.Errorf("frames: %d %q", code, all)
	}
	if code, _, _ := a.do("GET", "/v1/client/fs/logs/"+id+"?task=nope&type=stdout", nil); code != 400 {
		t.Errorf("unknown task: %d", code)
	}
}

func TestRestartMarksRunningAllocsLost(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := startAgent(t, dir)
	a.do("PUT", "/v1/var/keep/me", M{"Items": M{"k": "v"}})
	a.register(batchJob("lost", task("build", "sleep 0.2", "prestart"), task("test-0", `sleep 60 & sleep 60`, "")))
	al := a.waitAlloc("lost", 5*time.Second, func(al M) bool { return taskStates(al)["test-0"]["State"] == "running" })
	id := al["ID"].(string)
	a.close() // the agent goes away; its tasks keep running, as Nomad's do
	if len(procsOfAlloc(id)) == 0 {
		t.Fatalf("task died with the agent; the restart path is not exercised")
	}
	b := startAgent(t, dir)
	var v M
	if b.getJSON("/v1/var/keep/me", &v) != 200 || v["Items"].(map[string]any)["k"] != "v" {
		t.Errorf("variable lost across restart: %v", v)
	}
	var got M
	if b.getJSON("/v1/allocation/"+id, &got) != 200 {
		t.Fatalf("alloc forgotten after restart")
	}
	if got["ClientStatus"] != "lost" || got["DesiredStatus"] != "stop" {
		t.Errorf("after restart: %v/%v", got["ClientStatus"], got["DesiredStatus"])
	}
	ts := taskStates(got)["test-0"]
	if ts["State"] != "dead" || lastEvent(got, "test-0", "Killed") == nil {
		t.Errorf("task after restart: %v %v", ts["State"], eventTypes(got, "test-0"))
	}
	if taskStates(got)["build"]["State"] != "dead" || lastEvent(got, "build", "Terminated") == nil {
		t.Errorf("finished task changed: %v", eventTypes(got, "build"))
	}
	var j M
	b.getJSON("/v1/job/lost", &j)
	if j["Status"] != "dead" {
		t.Errorf("job status %v", j["Status"])
	}
	assertNoProcs(t, id)
}

func TestGarbageCollection(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "")
	a.register(batchJob("gc", task("test-0", "echo hi > $NOMAD_ALLOC_DIR/out", "")))
	al := a.waitAlloc("gc", 5*time.Second, done)
	id := al["ID"].(string)
	time.Sleep(100 * time.Millisecond) // let the runner exit
	if n := a.srv.gcOnce(time.Now().Add(-time.Hour)); n != 0 {
		t.Errorf("collected %d fresh allocs", n)
	}
	if n := a.srv.gcOnce(time.Now().Add(time.Second)); n != 1 {
		t.Errorf("collected %d allocs, want 1", n)
	}
	if code := a.getJSON("/v1/allocation/"+id, nil); code != 404 {
		t.Errorf("collected alloc answers %d", code)
	}
	if _, err := os.Stat(filepath.Join(a.dir, "alloc", id)); !os.IsNotExist(err) {
		t.Errorf("alloc dir survived GC: %v", err)
	}
	if code := a.getJSON("/v1/job/gc", nil); code != 404 {
		t.Errorf("dead job with nothing left answers %d", code)
	}
	// Purge removes the alloc dir too.
	a.register(batchJob("purge", task("test-0", "true", "")))
	al = a.waitAlloc("purge", 5*time.Second, done)
	a.do("DELETE", "/v1/job/purge?purge=true", nil)
	time.Sleep(200 * time.Millisecond)
	if _, err := os.Stat(filepath.Join(a.dir, "alloc", al["ID"].(string))); !os.IsNotExist(err) {
		t.Errorf("purged alloc dir survived: %v", err)
	}
}
