package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

func TestPlacementFailures(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "")
	cases := []struct {
		name, field, key string
		tweak            func(job M)
	}{
		{"constraint", "ConstraintFiltered", "${attr.kernel.name} = plan9", func(j M) {
			j["Constraints"] = []M{{"LTarget": "${attr.kernel.name}", "RTarget": "plan9", "Operand": "="}}
		}},
		{"group-constraint", "ConstraintFiltered", "${meta.rack} is_set ", func(j M) {
			j["TaskGroups"].([]M)[0]["Constraints"] = []M{{"LTarget": "${meta.rack}", "Operand": "is_set"}}
		}},
		{"driver", "ConstraintFiltered", "missing drivers", func(j M) {
			tk := j["TaskGroups"].([]M)[0]["Tasks"].([]M)[0]
			tk["Driver"], tk["Config"] = "docker", M{"image": "busybox"}
		}},
		{"gpu", "ConstraintFiltered", "missing devices", func(j M) {
			j["TaskGroups"].([]M)[0]["Tasks"].([]M)[0]["Resources"].(M)["Devices"] = []M{{"Name": "nvidia/gpu", "Count": 1}}
		}},
		{"volume", "ConstraintFiltered", "missing compatible host volumes", func(j M) {
			j["TaskGroups"].([]M)[0]["Volumes"] = M{"cache": M{"Name": "cache", "Type": "host", "Source": "nope"}}
		}},
		{"memory", "DimensionExhausted", "memory", func(j M) {
			j["TaskGroups"].([]M)[0]["Tasks"].([]M)[0]["Resources"].(M)["MemoryMB"] = 10_000_000
		}},
		{"cpu", "DimensionExhausted", "cpu", func(j M) {
			j["TaskGroups"].([]M)[0]["Tasks"].([]M)[0]["Resources"].(M)["CPU"] = 100_000_000
		}},
	}
	for _, c := range cases {
		job := batchJob("place-"+c.name, task("test-0", "true", ""))
		c.tweak(job)
		a.register(job)
		if al := a.allocs("place-" + c.name); len(al) != 0 {
			t.Errorf("%s: placed %d allocs", c.name, len(al))
		}
		var evs []M
		a.getJSON("/v1/job/place-"+c.name+"/evaluations", &evs)
		if len(evs) != 2 {
			t.Fatalf("%s: %d evals", c.name, len(evs))
		}
		statuses := map[string]M{}
		for _, e := range evs {
			statuses[e["Status"].(string)] = e
		}
		reg, blocked := statuses["complete"], statuses["blocked"]
		if reg == nil || blocked == nil || reg["TriggeredBy"] != "job-register" || blocked["TriggeredBy"] != "queued-allocs" || reg["BlockedEval"] != blocked["ID"] {
			t.Fatalf("%s: evals %v", c.name, evs)
		}
		for _, e := range []M{reg, blocked} {
			m := e["FailedTGAllocs"].(map[string]any)["build"].(map[string]any)
			if m["NodesEvaluated"] != float64(1) || m[c.field].(map[string]any)[c.key] != float64(1) {
				b, _ := json.Marshal(m)
				t.Errorf("%s: metric %s", c.name, b)
			}
			if c.field == "DimensionExhausted" {
				re := m["ResourcesExhausted"].(map[string]any)["test-0"].(map[string]any)
				if c.key == "memory" && (re["MemoryMB"] != float64(10_000_000) || re["CPU"] != float64(0)) {
					t.Errorf("ResourcesExhausted %v", re)
				}
			}
		}
		var j M
		a.getJSON("/v1/job/place-"+c.name, &j)
		if j["Status"] != "pending" {
			t.Errorf("%s: job status %v", c.name, j["Status"])
		}
	}
	// The configured host volume places.
	job := batchJob("place-cache", task("test-0", "true", ""))
	job["TaskGroups"].([]M)[0]["Volumes"] = M{"cache": M{"Name": "cache", "Type": "host", "Source": "buildah-cache"}}
	a.register(job)
	if al := a.waitAlloc("place-cache", 10*time.Second, done); al["ClientStatus"] != "complete" {
		t.Errorf("cache volume job: %s", summarize(al))
	}
	// Stopping a blocked job cancels its blocked evaluation and makes it dead.
	a.do("DELETE", "/v1/job/place-memory", nil)
	var evs []M
	a.getJSON("/v1/job/place-memory/evaluations", &evs)
	for _, e := range evs {
		if e["Status"] == "blocked" {
			t.Errorf("blocked eval survived the stop")
		}
	}
}

func TestBlockedEvalPlacedWhenCapacityFrees(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "")
	capMem := deref(a.srv.nodes[0].node.Resources.MemoryMB)
	big := task("test-0", "sleep 1", "")
	big["Resources"].(M)["MemoryMB"] = capMem - 100
	a.register(batchJob("big", big))
	a.waitAlloc("big", 5*time.Second, func(al M) bool { return al["ClientStatus"] == "running" })
	small := task("test-0", "echo small", "")
	small["Resources"].(M)["MemoryMB"] = 200
	a.register(batchJob("small", small))
	if n := len(a.allocs("small")); n != 0 {
		t.Fatalf("small placed while memory was taken (%d allocs)", n)
	}
	al := a.waitAlloc("small", 15*time.Second, done)
	if al["ClientStatus"] != "complete" {
		t.Errorf("small: %s", summarize(al))
	}
	var evs []M
	a.getJSON("/v1/job/small/evaluations", &evs)
	for _, e := range evs {
		if e["Status"] == "blocked" {
			t.Errorf("blocked eval still blocked after placement")
		}
		if e["TriggeredBy"] == "queued-allocs" && al["EvalID"] != e["ID"] {
			t.Errorf("alloc not placed by the blocked eval")
		}
	}
}

func TestConstraintOperands(t *testing.T) {
	s := &Server{nodes: []*clientNode{{node: buildNode(Config{NodeMeta: map[string]string{"rack": "r1", "tags": "a,b,c"}, NodeClass: "builder"}, "node-1", "node-1", nil, 1)}}}
	s.nodes[0].node.Attributes["nomad.version"] = "2.0.5"
	ok := []M{
		{"L": "${attr.kernel.name}", "O": "=", "R": "linux"},
		{"L": "${node.class}", "O": "==", "R": "builder"},
		{"L": "${meta.rack}", "O": "!=", "R": "r2"},
		{"L": "${attr.cpu.arch}", "O": "regexp", "R": "^(amd64|arm64)$"},
		{"L": "${meta.rack}", "O": "is_set", "R": ""},
		{"L": "${meta.nope}", "O": "is_not_set", "R": ""},
		{"L": "${attr.nomad.version}", "O": "version", "R": ">= 1.6, < 3.0"},
		{"L": "${meta.tags}", "O": "set_contains", "R": "a,c"},
		{"L": "${node.datacenter}", "O": "=", "R": "dc1"},
		{"L": "${node.unique.id}", "O": "=", "R": "node-1"},
		{"L": "${attr.driver.raw_exec}", "O": "=", "R": "1"},
	}
	bad := []M{
		{"L": "${attr.kernel.name}", "O": "=", "R": "plan9"},
		{"L": "${meta.nope}", "O": "is_set", "R": ""},
		{"L": "${attr.nomad.version}", "O": "version", "R": "< 2.0"},
		{"L": "${meta.tags}", "O": "set_contains", "R": "a,z"},
		{"L": "${attr.cpu.arch}", "O": "regexp", "R": "^sparc$"},
	}
	for _, c := range ok {
		if !s.checkConstraint(s.nodes[0], constraintOf(c)) {
			t.Errorf("should pass: %v", c)
		}
	}
	for _, c := range bad {
		if s.checkConstraint(s.nodes[0], constraintOf(c)) {
			t.Errorf("should fail: %v", c)
		}
	}
}

// A group's need is its largest phase, as Nomad's Comparable counts it:
// prestart sidecars throughout, and the most of prestart, main and poststop.
func TestGroupNeedFollowsLifecycle(t *testing.T) {
	res := func(name, hook string, sidecar bool, cpu, mem int) *api.Task {
		tk := &api.Task{Name: name, Resources: &api.Resources{CPU: new(cpu), MemoryMB: new(mem)}}
		if hook != "" {
			tk.Lifecycle = &api.TaskLifecycle{Hook: hook, Sidecar: sidecar}
		}
		return tk
	}
	cases := []struct {
		name     string
		tasks    []*api.Task
		cpu, mem int
	}{
		{"phases apart", []*api.Task{res("b", "prestart", false, 100, 400), res("t", "", false, 300, 100), res("p", "poststop", false, 50, 200)}, 300, 400},
		{"mains add up", []*api.Task{res("t0", "", false, 100, 100), res("t1", "", false, 100, 100), res("b", "prestart", false, 100, 150)}, 200, 200},
		{"sidecar throughout", []*api.Task{res("s", "prestart", true, 10, 50), res("b", "prestart", false, 100, 400), res("t", "", false, 100, 100)}, 110, 450},
		{"poststart not counted, as in Nomad 2.0", []*api.Task{res("t", "", false, 100, 100), res("ps", "poststart", false, 500, 500)}, 100, 100},
	}
	for _, c := range cases {
		if cpu, mem := groupNeed(&api.TaskGroup{Tasks: c.tasks}); cpu != c.cpu || mem != c.mem {
			t.Errorf("%s: %d MHz %d MB, want %d %d", c.name, cpu, mem, c.cpu, c.mem)
		}
	}
}

// The busy node serves its queue oldest first: of two waiting jobs that each
// need what the running one holds, the first registered runs first.
func TestBlockedEvalsQueueInOrder(t *testing.T) {
	t.Parallel()
	a := startAgent(t, "")
	capMem := deref(a.srv.nodes[0].node.Resources.MemoryMB)
	big := func(script string) M {
		tk := task("test-0", script, "")
		tk["Resources"].(M)["MemoryMB"] = capMem * 6 / 10
		return tk
	}
	a.register(batchJob("q-running", big("sleep 0.5")))
	a.waitAlloc("q-running", 5*time.Second, func(al M) bool { return al["ClientStatus"] == "running" })
	a.register(batchJob("q-first", big("sleep 0.5")))
	a.register(batchJob("q-second", big("true")))
	var sum M
	a.getJSON("/v1/job/q-first/summary", &sum)
	if q := sum["Summary"].(map[string]any)["build"].(map[string]any)["Queued"]; q != float64(1) {
		t.Errorf("queued job summary: %v", sum)
	}
	first := a.waitAlloc("q-first", 5*time.Second, func(al M) bool { return al["ClientStatus"] == "running" })
	if n := len(a.allocs("q-second")); n != 0 {
		t.Errorf("the later job was placed beside the earlier one")
	}
	second := a.waitAlloc("q-second", 5*time.Second, done)
	if second["CreateIndex"].(float64) < first["CreateIndex"].(float64) || second["ClientStatus"] != "complete" {
		t.Errorf("queue order: first %v, second %v", first["CreateIndex"], second["CreateIndex"])
	}
}
