package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestUnimplementedFieldsRefused: a field nomadlite would ignore is refused
// by name at register, never dropped in silence, while validate (whether Nomad
// would take the job) accepts it; the project's own jobs and a job read back
// from the agent still register.
func TestUnimplementedFieldsRefused(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "")
	cases := []struct {
		name  string
		tweak func(j, g, tk M)
		want  string
	}{
		{"task services", func(_, _, tk M) { tk["Services"] = []M{{"Name": "web", "Provider": "nomad"}} }, "Task build: nomadlite does not implement the task field Services"},
		{"vault", func(_, _, tk M) { tk["Vault"] = M{"Role": "r"} }, "the task field Vault"},
		{"leader", func(_, _, tk M) { tk["Leader"] = true }, "the task field Leader"},
		{"task shutdown delay", func(_, _, tk M) { tk["ShutdownDelay"] = int64(time.Second) }, "the task field ShutdownDelay"},
		{"cores", func(_, _, tk M) { tk["Resources"].(M)["Cores"] = 2 }, "the task field Resources.Cores"},
		{"secrets", func(_, _, tk M) { tk["Secrets"] = []M{{"Name": "s", "Provider": "vault", "Path": "x"}} }, "the task field Secrets"},
		{"group network", func(_, g, _ M) { g["Networks"] = []M{{"Mode": "bridge"}} }, "* nomadlite does not implement the group field Networks"},
		{"group services", func(_, g, _ M) { g["Services"] = []M{{"Name": "web"}} }, "the group field Services"},
		{"group shutdown delay", func(_, g, _ M) { g["ShutdownDelay"] = int64(time.Second) }, "the group field ShutdownDelay"},
		{"max run duration", func(_, g, _ M) { g["MaxRunDuration"] = int64(time.Minute) }, "the group field MaxRunDuration"},
		{"job spreads", func(j, _, _ M) { j["Spreads"] = []M{{"Attribute": "${node.unique.name}", "Weight": 50}} }, "the job field Spreads"},
		{"group spreads", func(_, g, _ M) { g["Spreads"] = []M{{"Attribute": "${node.unique.name}", "Weight": 50}} }, "the group field Spreads"},
		{"stop on client after", func(_, g, _ M) { g["Disconnect"] = M{"StopOnClientAfter": int64(time.Minute)} }, "the group field Disconnect.StopOnClientAfter"},
		{"replace while unknown", func(_, g, _ M) { g["Disconnect"] = M{"LostAfter": int64(time.Minute)} }, "the group field Disconnect.Replace"},
		{"periodic", func(j, _, _ M) { j["Periodic"] = M{"Spec": "@daily", "Enabled": true} }, "the job field Periodic"},
		{"parameterized", func(j, _, _ M) { j["ParameterizedJob"] = M{"Payload": "optional"} }, "the job field ParameterizedJob"},
	}
	for i, c := range cases {
		tk := task("build", "true", "")
		job := batchJob(fmt.Sprintf("unimpl-%d", i), tk)
		c.tweak(job, job["TaskGroups"].([]M)[0], tk)
		code, _, b := a.do("PUT", "/v1/jobs", M{"Job": job})
		if code != 500 || !strings.Contains(string(b), c.want) {
			t.Errorf("%s: register %d %q, want %q", c.name, code, b, c.want)
		}
		var vr M
		_, _, b = a.do("PUT", "/v1/validate/job", M{"Job": job})
		_ = json.Unmarshal(b, &vr)
		if e, _ := vr["Error"].(string); e != "" || len(vr["ValidationErrors"].([]any)) != 0 {
			t.Errorf("%s: validate refused what Nomad accepts: %s", c.name, b)
		}
	}
	var jobs []M
	a.getJSON("/v1/jobs", &jobs)
	if len(jobs) != 0 {
		t.Errorf("refused jobs were created: %v", jobs)
	}

	// What src/jobs/render.ts sends (docker profile, an uploaded source), and
	// what defaults and readers leave set: accepted.
	build := task("build", "true", "prestart")
	build["Driver"], build["Config"] = "raw_exec", M{"command": "/bin/sh", "args": []string{"-c", "true"}}
	build["Env"], build["KillSignal"], build["User"] = M{"A": "b"}, "SIGTERM", ""
	build["Artifacts"] = []M{{"GetterSource": "http://127.0.0.1:1/v1/sources/ab/archive?build=x", "GetterOptions": M{"checksum": "sha256:" + strings.Repeat("ab", 32), "archive": "false"},
		"GetterHeaders": M{"Authorization": "Bearer t"}, "RelativeDest": "local/nbs-source"}}
	build["Templates"] = []M{{"EmbeddedTmpl": "X=1\n", "DestPath": "secrets/x.env", "Envvars": true, "ChangeMode": "noop", "Perms": "0600"}}
	build["VolumeMounts"] = []M{{"Volume": "cache", "Destination": "/cache", "ReadOnly": false}}
	build["Affinities"] = []M{{"LTarget": "${node.class}", "RTarget": "x", "Operand": "=", "Weight": 50}}
	job := batchJob("render-like", build, task("test-0", "true", ""), task("publish", "true", "poststop"))
	g := job["TaskGroups"].([]M)[0]
	g["Disconnect"] = M{"Replace": false}
	g["EphemeralDisk"] = M{"SizeMB": 300}
	g["Volumes"] = M{"cache": M{"Name": "cache", "Type": "host", "Source": "buildah-cache", "ReadOnly": false}}
	job["Meta"] = M{"nbs.id": "x"}
	if code, _, b := a.do("PUT", "/v1/validate/job", M{"Job": job}); code != 200 || !strings.Contains(string(b), `"ValidationErrors":[]`) {
		t.Fatalf("render-like job: %d %s", code, b)
	}
	// A job as the agent answers it, registered again (nomad job inspect | run).
	a.register(batchJob("readback", task("test-0", "true", "")))
	a.waitAlloc("readback", 10*time.Second, done)
	var back M
	a.getJSON("/v1/job/readback", &back)
	back["Meta"] = M{"v": "2"}
	if code, _, b := a.do("PUT", "/v1/jobs", M{"Job": back}); code != 200 {
		t.Errorf("re-registering a job read back: %d %s", code, b)
	}
	a.waitAlloc("readback", 10*time.Second, func(M) bool {
		stubs := a.allocs("readback")
		for _, st := range stubs {
			if st["ClientStatus"] != "complete" {
				return false
			}
		}
		return len(stubs) == 2
	})
}
