package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
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

func loadText(t *testing.T, scenario, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, scenario, file))
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return string(b)
}

// recorded is how the conformance suite records a non-JSON answer.
type recorded struct {
	Status      int    `json:"status"`
	ContentType string `json:"content_type"`
	Body        string `json:"body"`
}

// clientPaths writes nomadlite's alloc paths the way the recordings hide
// the real client's: <client-data-dir>/<alloc-id>/…
func (a *testAgent) clientPaths(s, allocID string) string {
	s = strings.ReplaceAll(s, filepath.Join(a.dir, "alloc"), "<client-data-dir>")
	return strings.ReplaceAll(s, allocID, "<alloc-id>")
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
	t.Run("variables-write", func(t *testing.T) {
		base := "conformance/vw-fixture"
		type answer struct {
			recorded
			Index string `json:"index"`
		}
		do := func(method, path string, body any) answer {
			code, h, b := a.do(method, path, body)
			return answer{recorded{code, strings.Split(h.Get("Content-Type"), ";")[0], string(b)}, h.Get("X-Nomad-Index")}
		}
		put := func(items M, cas string) answer {
			return do("PUT", "/v1/var/"+base+"/a?cas="+cas, M{"Path": base + "/a", "Items": items})
		}
		got := map[string]answer{}
		got["put-create-cas0.json"] = put(M{"k": "1"}, "0")
		var created M
		_ = json.Unmarshal([]byte(got["put-create-cas0.json"].Body), &created)
		got["put-exists-cas0.json"] = put(M{"k": "2"}, "0")
		if up := put(M{"k": "3"}, fmt.Sprint(created["ModifyIndex"])); up.Status != 200 {
			t.Errorf("cas update: %+v", up)
		}
		got["delete-wrong-cas.json"] = do("DELETE", "/v1/var/"+base+"/a?cas=1", nil)
		got["delete.json"] = do("DELETE", "/v1/var/"+base+"/a", nil)
		got["delete-missing.json"] = do("DELETE", "/v1/var/"+base+"/never-existed", nil)
		if code, _, b := a.do("GET", "/v1/var/"+base+"/a", nil); code != 404 {
			t.Errorf("GET of a deleted variable: %d %s", code, b)
		}
		for file, ours := range got {
			var rec answer
			b, _ := json.Marshal(loadFixture(t, "variables-write", file))
			_ = json.Unmarshal(b, &rec)
			if ours.Status != rec.Status || (rec.ContentType != "" || rec.Status == 204) && ours.ContentType != rec.ContentType {
				t.Errorf("%s: nomadlite %d %q, recorded %d %q", file, ours.Status, ours.ContentType, rec.Status, rec.ContentType)
			}
			if rec.Index != "" && ours.Index == "" {
				t.Errorf("%s: X-Nomad-Index %q, recorded %q", file, ours.Index, rec.Index)
			}
			if rec.Body == "" || ours.Body == "" {
				if rec.Body != ours.Body {
					t.Errorf("%s: body %q, recorded %q", file, ours.Body, rec.Body)
				}
				continue
			}
			// The same keys in the same order, the same items; indexes and times are each agent's own.
			if rk, ok := jsonKeys(rec.Body), jsonKeys(ours.Body); !slices.Equal(rk, ok) {
				t.Errorf("%s: keys %v, recorded %v", file, ok, rk)
			}
			var rv, ov M
			_ = json.Unmarshal([]byte(rec.Body), &rv)
			_ = json.Unmarshal([]byte(ours.Body), &ov)
			for _, k := range []string{"Namespace", "Lock", "Items"} {
				if fmt.Sprint(rv[k]) != fmt.Sprint(ov[k]) {
					t.Errorf("%s: %s %v, recorded %v", file, k, ov[k], rv[k])
				}
			}
		}
	})
	t.Run("artifact", func(t *testing.T) {
		good := tgz(t, entry{"a.txt", "file", "alpha", 0o644}, entry{"dir", "dir", "", 0o755}, entry{"dir/run.sh", "file", "#!/bin/sh\necho run-ok\n", 0o755},
			entry{"link", "symlink", "a.txt", 0o777})
		hostile := tgz(t, entry{"ok.txt", "file", "fine", 0o644}, entry{"../escape.txt", "file", "escaped", 0o644})
		abslink := tgz(t, entry{"ok.txt", "file", "fine", 0o644}, entry{"etc-link", "symlink", "/etc", 0o777})
		srv := newArtifactServer(t, map[string][]byte{"/good.tgz": good, "/hostile.tgz": hostile, "/abslink.tgz": abslink})
		art := func(path, checksum string) M {
			a := artifact(srv.URL+path, M{}, "local/src")
			if checksum != "" {
				a["GetterOptions"] = M{"checksum": checksum}
			}
			return a
		}
		ok := art("/good.tgz?case=ok", sha(good))
		ok["GetterHeaders"] = M{"Authorization": "Bearer conformance-token"}
		raw := artifact(srv.URL+"/good.tgz", M{"checksum": sha(good), "archive": "false"}, "local/in")
		cases := map[string]M{"ok": ok, "badsum": art("/good.tgz", "sha256:"+strings.Repeat("0", 64)), "missing": art("/nope.tgz", ""),
			"escape": art("/hostile.tgz", sha(hostile)), "raw": raw, "abslink": art("/abslink.tgz", sha(abslink))}
		for name, a := range cases {
			reg := mustPut("/v1/jobs", M{"Job": withArtifacts("fx-art-"+name, "true", a)})
			if name == "ok" {
				sameKeys(t, "register", obj(loadFixture(t, "artifact", "register.json"), "body"), reg)
			}
		}
		// The recorded messages, with the server's address, the allocation's
		// directory and the getter's temporary name each agent has of its own.
		norm := func(s, allocDir string) string {
			s = regexp.MustCompile(`http://127\.0\.0\.1:\d+`).ReplaceAllString(s, "<server>")
			s = regexp.MustCompile(`/getter\d+/`).ReplaceAllString(s, "/getter<n>/")
			s = regexp.MustCompile(`\nGot: [0-9a-f]{64}\n`).ReplaceAllString(s, "\nGot: <sum of the gzip>\n")
			return strings.ReplaceAll(s, allocDir, "<alloc-dir>")
		}
		for name := range cases {
			ours := a.finalAlloc("fx-art-" + name)
			rec := loadFixture(t, "artifact", "alloc-"+name+".json")
			compareAlloc(t, "alloc-"+name, rec, ours)
			ourEvents, recEvents := eventTypes(ours.(map[string]any), "build"), eventTypes(rec.(map[string]any), "build")
			if !slices.Equal(ourEvents, recEvents) || obj(ours, "ClientStatus") != obj(rec, "ClientStatus") {
				t.Errorf("%s: nomadlite %v %v, recorded %v %v", name, obj(ours, "ClientStatus"), ourEvents, obj(rec, "ClientStatus"), recEvents)
			}
			for _, typ := range []string{"Failed Artifact Download", "Not Restarting", "Downloading Artifacts"} {
				re, oe := lastEvent(rec.(map[string]any), "build", typ), lastEvent(ours.(map[string]any), "build", typ)
				if re == nil {
					continue
				}
				id := obj(ours, "ID").(string)
				recDir := regexp.MustCompile(`/tmp/rec-nomad/data/alloc/[0-9a-f-]+`)
				for _, k := range []string{"DisplayMessage", "DownloadError", "Message", "FailsTask", "RestartReason"} {
					rv, ov := fmt.Sprint(re[k]), fmt.Sprint(oe[k])
					if norm(ov, filepath.Join(a.dir, "alloc", id)) != norm(recDir.ReplaceAllString(rv, "<alloc-dir>"), "<alloc-dir>") {
						t.Errorf("%s %s.%s: nomadlite %q, recorded %q", name, typ, k, ov, rv)
					}
				}
			}
		}
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
	t.Run("client-fs", func(t *testing.T) {
		mustPut("/v1/jobs", M{"Job": batchJob("fx-fs", task("test-0", `mkdir -p "$NOMAD_ALLOC_DIR/out"; printf one > "$NOMAD_ALLOC_DIR/out/a"; printf two > "$NOMAD_ALLOC_DIR/out/b"`, ""))})
		id := obj(a.finalAlloc("fx-fs"), "ID").(string)
		get := func(path string) recorded {
			code, h, b := a.do("GET", path, nil)
			return recorded{code, strings.Split(h.Get("Content-Type"), ";")[0], a.clientPaths(string(b), id)}
		}
		exact := map[string]string{
			"cat-alloc_out_missing.json":  "/v1/client/fs/cat/" + id + "?path=alloc/out/missing",
			"cat-alloc_out_a.json":        "/v1/client/fs/cat/00000000-0000-0000-0000-000000000000?path=alloc/out/a",
			"ls-alloc_nope.json":          "/v1/client/fs/ls/" + id + "?path=alloc/nope",
			"stat-alloc_out_missing.json": "/v1/client/fs/stat/" + id + "?path=alloc/out/missing",
			"logs-nope-stdout-true.json":  "/v1/client/fs/logs/" + id + "?task=nope&type=stdout&plain=true",
		}
		for file, path := range exact {
			var rec recorded
			b, _ := json.Marshal(loadFixture(t, "client-fs", file))
			_ = json.Unmarshal(b, &rec)
			if got := get(path); got != rec {
				t.Errorf("%s: nomadlite %+v, recorded %+v", file, got, rec)
			}
		}
		// Listings and stats carry times and sizes of their own: same status,
		// type, keys and values but ModTime.
		for file, path := range map[string]string{
			"ls-alloc_out.json":     "/v1/client/fs/ls/" + id + "?path=alloc/out",
			"stat-alloc_out_a.json": "/v1/client/fs/stat/" + id + "?path=alloc/out/a",
		} {
			var rec recorded
			b, _ := json.Marshal(loadFixture(t, "client-fs", file))
			_ = json.Unmarshal(b, &rec)
			got := get(path)
			if got.Status != rec.Status || got.ContentType != rec.ContentType {
				t.Errorf("%s: nomadlite %d %s, recorded %d %s", file, got.Status, got.ContentType, rec.Status, rec.ContentType)
			}
			var rv, ov any
			_ = json.Unmarshal([]byte(rec.Body), &rv)
			if err := json.Unmarshal([]byte(got.Body), &ov); err != nil {
				t.Fatalf("%s: %v: %s", file, err, got.Body)
			}
			rl, ol := asList(rv), asList(ov)
			if len(rl) != len(ol) {
				t.Fatalf("%s: nomadlite %s, recorded %s", file, got.Body, rec.Body)
			}
			for i := range rl {
				sameKeys(t, file, rl[i], ol[i])
				for _, k := range []string{"Name", "IsDir", "Size", "FileMode", "ContentType"} {
					if obj(rl[i], k) != obj(ol[i], k) {
						t.Errorf("%s[%d].%s: nomadlite %v, recorded %v", file, i, k, obj(ol[i], k), obj(rl[i], k))
					}
				}
			}
		}
	})
	t.Run("missing-variable", func(t *testing.T) {
		tk := task("test-0", "echo ran", "")
		tk["Templates"] = []M{{"EmbeddedTmpl": `{{ with nomadVar "nomad/jobs/conformance-absent" }}K={{ .k }}{{ end }}`, "DestPath": "secrets/x.env", "ChangeMode": "noop"}}
		mustPut("/v1/jobs", M{"Job": batchJob("fx-missvar", tk)})
		a.waitAlloc("fx-missvar", 5*time.Second, func(al M) bool { return lastEvent(al, "test-0", "Template") != nil })
		ours := a.getAny("/v1/allocation/" + a.allocs("fx-missvar")[0]["ID"].(string))
		rec := loadFixture(t, "missing-variable", "alloc-waiting.json")
		compareAlloc(t, "alloc", rec, ours)
		for _, k := range []string{"ClientStatus", "ClientDescription"} {
			if obj(ours, k) != obj(rec, k) {
				t.Errorf("%s: nomadlite %v, recorded %v", k, obj(ours, k), obj(rec, k))
			}
		}
		rts, ots := obj(obj(rec, "TaskStates"), "test-0"), obj(obj(ours, "TaskStates"), "test-0")
		if obj(ots, "State") != obj(rts, "State") || obj(ots, "Failed") != obj(rts, "Failed") || obj(ots, "StartedAt") != nil {
			t.Errorf("task: nomadlite %v", ots)
		}
		ev := func(ts any) any { evs := obj(ts, "Events").([]any); return evs[len(evs)-1] }
		for _, k := range []string{"Type", "DisplayMessage", "Message", "FailsTask"} {
			if obj(ev(ots), k) != obj(ev(rts), k) {
				t.Errorf("last event %s: nomadlite %v, recorded %v", k, obj(ev(ots), k), obj(ev(rts), k))
			}
		}
	})
	t.Run("busy-node", func(t *testing.T) {
		var nodes []any
		a.getJSON("/v1/nodes?resources=true", &nodes)
		rec := loadFixture(t, "busy-node", "nodes-resources.json").([]any)[0]
		sameKeys(t, "node", rec, nodes[0])
		for _, p := range [][]string{{"NodeResources"}, {"NodeResources", "Cpu"}, {"NodeResources", "Memory"}, {"NodeResources", "Disk"},
			{"NodeResources", "Processors", "Topology"}, {"ReservedResources"}, {"ReservedResources", "Cpu"}, {"ReservedResources", "Memory"},
			{"HostVolumes", "buildah-cache"}} {
			r, o := rec, nodes[0]
			for _, k := range p {
				r, o = obj(r, k), obj(o, k)
			}
			sameKeys(t, "node."+strings.Join(p, "."), r, o)
		}
		capMem := int(obj(obj(obj(nodes[0], "NodeResources"), "Memory"), "MemoryMB").(float64))
		if capMem != deref(a.srv.nodes[0].node.Resources.MemoryMB) || capMem <= 0 {
			t.Errorf("NodeResources.Memory.MemoryMB %d, host %d", capMem, deref(a.srv.nodes[0].node.Resources.MemoryMB))
		}
		a.getJSON("/v1/nodes", &nodes)
		if obj(nodes[0], "NodeResources") != nil {
			t.Errorf("NodeResources listed without resources=true")
		}

		big := func(script string, mem int) M {
			tk := task("test-0", script, "")
			tk["Resources"].(M)["MemoryMB"] = mem
			return tk
		}
		mustPut("/v1/jobs", M{"Job": batchJob("fx-busy-a", big("sleep 1.5", capMem*6/10))})
		a.waitAlloc("fx-busy-a", 5*time.Second, func(al M) bool { return taskStates(al)["test-0"]["State"] == "running" })
		mustPut("/v1/jobs", M{"Job": batchJob("fx-busy-b", big("echo second-ran", capMem*6/10))})
		if n := len(a.allocs("fx-busy-b")); n != 0 {
			t.Fatalf("second job placed (%d allocs) while the first holds the memory", n)
		}
		var evs []any
		a.getJSON("/v1/job/fx-busy-b/evaluations", &evs)
		byStatus := map[string]any{}
		for _, e := range evs {
			byStatus[obj(e, "Status").(string)] = e
		}
		for _, e := range loadFixture(t, "busy-node", "evaluations-waiting.json").([]any) {
			st := obj(e, "Status").(string)
			sameKeys(t, "eval["+st+"]", e, byStatus[st])
			rm, om := obj(obj(e, "FailedTGAllocs"), "build"), obj(obj(byStatus[st], "FailedTGAllocs"), "build")
			sameKeys(t, "eval["+st+"].FailedTGAllocs.build", rm, om)
			for _, k := range []string{"NodesEvaluated", "NodesExhausted", "NodesFiltered", "CoalescedFailures"} {
				if obj(rm, k) != obj(om, k) {
					t.Errorf("eval[%s] metric %s: nomadlite %v, recorded %v", st, k, obj(om, k), obj(rm, k))
				}
			}
			if fmt.Sprint(obj(om, "DimensionExhausted")) != fmt.Sprint(obj(rm, "DimensionExhausted")) {
				t.Errorf("eval[%s] DimensionExhausted: nomadlite %v, recorded %v", st, obj(om, "DimensionExhausted"), obj(rm, "DimensionExhausted"))
			}
		}
		sum := a.getAny("/v1/job/fx-busy-b/summary")
		recSum := loadFixture(t, "busy-node", "summary-waiting.json")
		sameKeys(t, "summary", recSum, sum)
		sameKeys(t, "summary.Summary.build", obj(obj(recSum, "Summary"), "build"), obj(obj(sum, "Summary"), "build"))
		if q := obj(obj(obj(sum, "Summary"), "build"), "Queued"); q != float64(1) {
			t.Errorf("summary Queued %v, want 1", q)
		}
		after := a.finalAlloc("fx-busy-b")
		compareAlloc(t, "alloc-after", loadFixture(t, "busy-node", "alloc-after.json"), after)
		if obj(after, "ClientStatus") != "complete" {
			t.Errorf("second job: %v", obj(after, "ClientStatus"))
		}

		part := capMem * 4 / 10
		phases := batchJob("fx-busy-phases", big("true", part), big("true", part), big("true", part))
		tasks := phases["TaskGroups"].([]M)[0]["Tasks"].([]M)
		tasks[0]["Name"], tasks[0]["Lifecycle"] = "build", M{"Hook": "prestart", "Sidecar": false}
		tasks[2]["Name"], tasks[2]["Lifecycle"] = "publish", M{"Hook": "poststop", "Sidecar": false}
		mustPut("/v1/jobs", M{"Job": phases})
		al := a.finalAlloc("fx-busy-phases")
		recPhases := loadFixture(t, "busy-node", "alloc-phases.json")
		compareAlloc(t, "alloc-phases", recPhases, al)
		sameKeys(t, "alloc-phases.AllocatedResources", obj(recPhases, "AllocatedResources"), obj(al, "AllocatedResources"))
		if got, want := fmt.Sprint(obj(obj(al, "AllocatedResources"), "TaskLifecycles")), fmt.Sprint(obj(obj(recPhases, "AllocatedResources"), "TaskLifecycles")); got != want {
			t.Errorf("TaskLifecycles: nomadlite %s, recorded %s", got, want)
		}
		if obj(al, "ClientStatus") != "complete" {
			t.Errorf("three phases of 40%%: %v", obj(al, "ClientStatus"))
		}
	})
}

// jsonKeys lists the keys of a JSON object in the order they are written.
func jsonKeys(body string) []string {
	dec := json.NewDecoder(strings.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return keys
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return keys
		}
	}
	return keys
}

func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}
