package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

// fixtureDir holds JSON answers recorded from a real Nomad 2.0.5 agent.
var fixtureDir = filepath.Join("..", "..", "test", "fixtures", "nomad-2.0.5")

func loadFixture(t *testing.T, scenario, file string) any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, scenario, file))
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("fixture %s/%s: %v", scenario, file, err)
	}
	return v
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "bool"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// sameKeys reports every key of the recorded object that nomadlite's object
// lacks or holds with another JSON type.
func sameKeys(t *testing.T, where string, rec, ours any) {
	t.Helper()
	r, ok1 := rec.(map[string]any)
	o, ok2 := ours.(map[string]any)
	if !ok1 || !ok2 {
		t.Errorf("%s: recorded %s, nomadlite %s", where, jsonType(rec), jsonType(ours))
		return
	}
	keys := make([]string, 0, len(r))
	for k := range r {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ov, has := o[k]
		if !has {
			t.Errorf("%s: key %q missing", where, k)
			continue
		}
		if rt, ot := jsonType(r[k]), jsonType(ov); rt != ot {
			t.Errorf("%s.%s: recorded %s, nomadlite %s", where, k, rt, ot)
		}
	}
}

func obj(v any, key string) any {
	if m, ok := v.(map[string]any); ok {
		return m[key]
	}
	return nil
}

func compareJob(t *testing.T, where string, rec, ours any) {
	sameKeys(t, where, rec, ours)
	rg, og := obj(rec, "TaskGroups").([]any), obj(ours, "TaskGroups").([]any)
	if len(rg) == 0 || len(og) == 0 {
		t.Errorf("%s: no task groups", where)
		return
	}
	sameKeys(t, where+".TaskGroups[0]", rg[0], og[0])
	byName := map[string]any{}
	for _, tk := range obj(og[0], "Tasks").([]any) {
		byName[obj(tk, "Name").(string)] = tk
	}
	for _, tk := range obj(rg[0], "Tasks").([]any) {
		name := obj(tk, "Name").(string)
		sameKeys(t, where+".Task["+name+"]", tk, byName[name])
	}
}

func compareAlloc(t *testing.T, where string, rec, ours any) {
	sameKeys(t, where, rec, ours)
	compareJob(t, where+".Job", obj(rec, "Job"), obj(ours, "Job"))
	rts, ots := obj(rec, "TaskStates").(map[string]any), obj(ours, "TaskStates").(map[string]any)
	for name, rs := range rts {
		os := ots[name]
		sameKeys(t, where+".TaskStates["+name+"]", rs, os)
		// Events: each recorded event type must be there with the same keys.
		ours := map[string]any{}
		for _, e := range obj(os, "Events").([]any) {
			ours[obj(e, "Type").(string)] = e
		}
		for _, e := range obj(rs, "Events").([]any) {
			typ := obj(e, "Type").(string)
			if ours[typ] == nil {
				t.Errorf("%s.TaskStates[%s]: no %q event", where, name, typ)
				continue
			}
			sameKeys(t, where+".TaskStates["+name+"].Event["+typ+"]", e, ours[typ])
		}
	}
}

func (a *testAgent) getAny(path string) any {
	a.t.Helper()
	var v any
	if code := a.getJSON(path, &v); code != 200 {
		a.t.Fatalf("GET %s: %d", path, code)
	}
	return v
}

func (a *testAgent) finalAlloc(jobID string) any {
	al := a.waitAlloc(jobID, 20*time.Second, done)
	return a.getAny("/v1/allocation/" + al["ID"].(string))
}

// TestMatchesRecordedNomad runs the conformance scenarios and checks that
// every key real Nomad 2.0.5 sent at the levels the service reads is in
// nomadlite's answer with the same JSON type.
func TestMatchesRecordedNomad(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "")
	mustPut := func(path string, body any) any {
		code, _, b := a.do("PUT", path, body)
		if code != 200 {
			t.Fatalf("PUT %s: %d %s", path, code, b)
		}
		var v any
		_ = json.Unmarshal(b, &v)
		return v
	}

	t.Run("lifecycle-success", func(t *testing.T) {
		job := batchJob("fx-ok", task("build", "echo b", "prestart"), task("test-0", "echo t", ""), task("test-1", "echo t", ""), task("publish", "echo p", "poststop"))
		job["Meta"] = M{"nbs.request": `{"repo":"x"}`}
		reg := mustPut("/v1/jobs", M{"Job": job})
		sameKeys(t, "register", obj(loadFixture(t, "lifecycle-success", "register.json"), "body"), reg)
		compareAlloc(t, "alloc", loadFixture(t, "lifecycle-success", "alloc-final.json"), a.finalAlloc("fx-ok"))
		compareJob(t, "job", loadFixture(t, "lifecycle-success", "job-final.json"), a.getAny("/v1/job/fx-ok"))
	})
	t.Run("build-fails", func(t *testing.T) {
		mustPut("/v1/jobs", M{"Job": batchJob("fx-bf", task("build", "exit 3", "prestart"), task("test-0", "echo t", ""), task("publish", "echo p", "poststop"))})
		compareAlloc(t, "alloc", loadFixture(t, "build-fails", "alloc-final.json"), a.finalAlloc("fx-bf"))
	})
	t.Run("test-fails", func(t *testing.T) {
		mustPut("/v1/jobs", M{"Job": batchJob("fx-tf", task("build", "echo b", "prestart"), task("test-0", "sleep 0.2; exit 7", ""),
			task("test-1", "sleep 30", ""), task("publish", "echo p", "poststop"))})
		compareAlloc(t, "alloc", loadFixture(t, "test-fails", "alloc-final.json"), a.finalAlloc("fx-tf"))
	})
	t.Run("kill-during-build", func(t *testing.T) {
		mustPut("/v1/jobs", M{"Job": batchJob("fx-kill", task("build", "sleep 300", "prestart"), task("test-0", "echo t", ""), task("publish", "echo p", "poststop"))})
		a.waitAlloc("fx-kill", 5*time.Second, func(al M) bool { return taskStates(al)["build"]["State"] == "running" })
		code, _, b := a.do("DELETE", "/v1/job/fx-kill", nil)
		var stop any
		_ = json.Unmarshal(b, &stop)
		if code != 200 {
			t.Fatalf("stop %d", code)
		}
		sameKeys(t, "stop", obj(loadFixture(t, "kill-during-build", "stop.json"), "body"), stop)
		compareAlloc(t, "alloc", loadFixture(t, "kill-during-build", "alloc-final.json"), a.finalAlloc("fx-kill"))
	})
	t.Run("driver-failure", func(t *testing.T) {
		bad := task("build", "true", "prestart")
		bad["Config"] = M{"command": "/no/such/binary", "args": []string{"x"}}
		mustPut("/v1/jobs", M{"Job": batchJob("fx-drv", bad, task("test-0", "true", ""), task("publish", "echo p", "poststop"))})
		compareAlloc(t, "alloc", loadFixture(t, "driver-failure", "alloc-final.json"), a.finalAlloc("fx-drv"))
	})
	t.Run("placement-failure", func(t *testing.T) {
		tweaks := map[string]func(M){
			"evaluations.json": func(j M) {
				j["Constraints"] = []M{{"LTarget": "${attr.kernel.name}", "RTarget": "plan9", "Operand": "="}}
			},
			"evaluations-driver.json": func(j M) {
				tk := j["TaskGroups"].([]M)[0]["Tasks"].([]M)[0]
				tk["Driver"], tk["Config"] = "docker", M{"image": "busybox:latest"}
			},
			"evaluations-memory.json": func(j M) {
				j["TaskGroups"].([]M)[0]["Tasks"].([]M)[0]["Resources"].(M)["MemoryMB"] = 10_000_000
			},
			"evaluations-gpu.json": func(j M) {
				j["TaskGroups"].([]M)[0]["Tasks"].([]M)[0]["Resources"].(M)["Devices"] = []M{{"Name": "nvidia/gpu", "Count": 1}}
			},
			"evaluations-volume.json": func(j M) {
				j["TaskGroups"].([]M)[0]["Volumes"] = M{"cache": M{"Name": "cache", "Type": "host", "Source": "no-such-volume"}}
			},
		}
		i := 0
		for file, tweak := range tweaks {
			i++
			id := fmt.Sprintf("fx-place-%d", i)
			job := batchJob(id, task("test-0", "true", ""))
			tweak(job)
			mustPut("/v1/jobs", M{"Job": job})
			var ours []any
			a.getJSON("/v1/job/"+id+"/evaluations", &ours)
			byStatus := map[string]any{}
			for _, e := range ours {
				byStatus[obj(e, "Status").(string)] = e
			}
			for _, e := range loadFixture(t, "placement-failure", file).([]any) {
				st := obj(e, "Status").(string)
				where := file + "[" + st + "]"
				sameKeys(t, where, e, byStatus[st])
				sameKeys(t, where+".FailedTGAllocs.build", obj(obj(e, "FailedTGAllocs"), "build"), obj(obj(byStatus[st], "FailedTGAllocs"), "build"))
			}
		}
	})
	t.Run("variables", func(t *testing.T) {
		v := mustPut("/v1/var/nomad/jobs/fx", M{"Path": "nomad/jobs/fx", "Items": M{"password": "x"}})
		sameKeys(t, "put-var", obj(loadFixture(t, "variables-template", "put-var.json"), "body"), v)
	})
	t.Run("queries", func(t *testing.T) {
		job := batchJob("fx-q", task("test-0", "echo hi", ""))
		job["Meta"] = M{"nbs.owner": "client-a"}
		mustPut("/v1/jobs", M{"Job": job})
		a.finalAlloc("fx-q")
		var list []any
		a.getJSON("/v1/jobs?prefix=fx-q&meta=true", &list)
		rec := loadFixture(t, "queries", "list-meta.json").([]any)
		if len(list) != 1 {
			t.Fatalf("list: %v", list)
		}
		sameKeys(t, "list-meta", rec[0], list[0])
		sameKeys(t, "list-meta.JobSummary", obj(rec[0], "JobSummary"), obj(list[0], "JobSummary"))
	})
}
