package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// sleeper is a job whose one allocation holds mem MB while it sleeps.
func sleeper(id string, memMB int) M {
	tk := task("main", "sleep 30", "")
	tk["Resources"] = M{"CPU": 100, "MemoryMB": memMB}
	return batchJob(id, tk)
}

// nodeOfJob waits for the job's allocation to run and returns its node's name.
func (a *testAgent) nodeOfJob(id string) string {
	a.t.Helper()
	al := a.waitAlloc(id, 5*time.Second, func(al M) bool { return al["ClientStatus"] == "running" })
	return al["NodeName"].(string)
}

func (a *testAgent) stopJob(id string) {
	a.t.Helper()
	if code, _, b := a.do("DELETE", "/v1/job/"+id, nil); code != 200 {
		a.t.Fatalf("stop %s: %d %s", id, code, b)
	}
}

func TestOneNodeKeepsTodaysPaths(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := startAgentWith(t, Config{DataDir: dir, Nodes: 1})
	host, _ := os.Hostname()
	var nodes []M
	a.getJSON("/v1/nodes", &nodes)
	if len(nodes) != 1 || nodes[0]["Name"] != host {
		t.Fatalf("nodes: %v", nodes)
	}
	id := nodes[0]["ID"].(string)
	vol := a.srv.cfg.HostVolumes["buildah-cache"]
	var node M
	a.getJSON("/v1/node/"+id, &node)
	if p := node["HostVolumes"].(map[string]any)["buildah-cache"].(map[string]any)["Path"]; p != vol {
		t.Errorf("host volume path %v, want %s", p, vol)
	}
	a.register(batchJob("one", task("main", "true", "")))
	al := a.waitAlloc("one", 5*time.Second, done)
	if _, err := os.Stat(filepath.Join(dir, "alloc", al["ID"].(string), "alloc", "logs")); err != nil {
		t.Errorf("alloc dir not under <data-dir>/alloc: %v", err)
	}
	if al["NodeID"] != id || al["NodeName"] != host {
		t.Errorf("alloc on %v/%v, want %s/%s", al["NodeID"], al["NodeName"], id, host)
	}
	a.close()
	b := startAgentWith(t, Config{DataDir: dir})
	if got := b.srv.nodes[0].node.ID; got != id {
		t.Errorf("node ID after restart %s, want %s", got, id)
	}
}

func TestSeveralNodes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := startAgentWith(t, Config{DataDir: dir, Nodes: 2})
	host, _ := os.Hostname()
	var nodes []M
	a.getJSON("/v1/nodes?resources=true", &nodes)
	if len(nodes) != 2 || nodes[0]["Name"] != host+"-1" || nodes[1]["Name"] != host+"-2" || nodes[0]["ID"] == nodes[1]["ID"] {
		t.Fatalf("nodes: %v", nodes)
	}
	machineMem := memCapacityMB()
	vol := a.srv.cfg.HostVolumes["buildah-cache"]
	ids := map[string]string{}
	for _, n := range nodes {
		name, id := n["Name"].(string), n["ID"].(string)
		ids[name] = id
		if mem := int(n["NodeResources"].(map[string]any)["Memory"].(map[string]any)["MemoryMB"].(float64)); mem != machineMem/2 {
			t.Errorf("%s: MemoryMB %d, want half the machine's %d", name, mem, machineMem)
		}
		var node M
		a.getJSON("/v1/node/"+id, &node)
		p := node["HostVolumes"].(map[string]any)["buildah-cache"].(map[string]any)["Path"].(string)
		if want := filepath.Join(vol, name); p != want {
			t.Errorf("%s: host volume %s, want %s", name, p, want)
		}
		if st, err := os.Stat(p); err != nil || !st.IsDir() {
			t.Errorf("%s: host volume dir: %v", name, err)
		}
	}
	if code := a.getJSON("/v1/node/nope", nil); code != 404 {
		t.Errorf("unknown node: %d", code)
	}

	// Spread puts the second job on the other node; each node lists its own.
	a.do("PUT", "/v1/operator/scheduler/configuration", M{"SchedulerAlgorithm": "spread"})
	a.register(sleeper("s1", 64))
	a.register(sleeper("s2", 64))
	n1, n2 := a.nodeOfJob("s1"), a.nodeOfJob("s2")
	if n1 == n2 {
		t.Fatalf("spread placed both on %s", n1)
	}
	for name, job := range map[string]string{n1: "s1", n2: "s2"} {
		var list []M
		a.getJSON("/v1/node/"+ids[name]+"/allocations", &list)
		if len(list) != 1 || list[0]["JobID"] != job {
			t.Errorf("allocations of %s: %v", name, list)
		}
		al := a.allocs(job)[0]
		d := filepath.Join(dir, "nodes", name, "alloc", al["ID"].(string))
		if _, err := os.Stat(d); err != nil {
			t.Errorf("alloc dir of %s: %v", job, err)
		}
		if out := a.logs(al["ID"].(string), "main", "stdout", ""); out != "" {
			t.Errorf("logs of %s: %q", job, out)
		}
	}
	a.stopJob("s1")
	a.stopJob("s2")
	a.close()
	b := startAgentWith(t, Config{DataDir: dir, Nodes: 2})
	for _, n := range b.srv.nodes {
		if ids[n.node.Name] != n.node.ID {
			t.Errorf("%s: ID %s after restart, want %s", n.node.Name, n.node.ID, ids[n.node.Name])
		}
	}
}

func TestBinpackFillsOneNode(t *testing.T) {
	t.Parallel()
	a := startAgentWith(t, Config{Nodes: 2})
	var cfg M
	a.getJSON("/v1/operator/scheduler/configuration", &cfg)
	if alg := cfg["SchedulerConfig"].(map[string]any)["SchedulerAlgorithm"]; alg != "binpack" {
		t.Fatalf("default algorithm %v", alg)
	}
	a.register(sleeper("b1", 64))
	a.register(sleeper("b2", 64))
	if n1, n2 := a.nodeOfJob("b1"), a.nodeOfJob("b2"); n1 != n2 {
		t.Errorf("binpack placed on %s and %s", n1, n2)
	}
	al := a.allocs("b2")[0]
	var full M
	a.getJSON("/v1/allocation/"+al["ID"].(string), &full)
	metas := full["Metrics"].(map[string]any)["ScoreMetaData"].([]any)
	if len(metas) != 2 {
		t.Fatalf("ScoreMetaData: %v", metas)
	}
	best, other := metas[0].(map[string]any), metas[1].(map[string]any)
	if best["NodeID"] != full["NodeID"] || best["NormScore"].(float64) <= other["NormScore"].(float64) {
		t.Errorf("ScoreMetaData does not rank the chosen node first: %v", metas)
	}
	a.stopJob("b1")
	a.stopJob("b2")
}

func TestAffinityPrefersFeasibleNode(t *testing.T) {
	t.Parallel()
	a := startAgentWith(t, Config{Nodes: 2})
	n2 := a.srv.nodes[1].node.Name
	prefer := func(job M) M {
		job["Affinities"] = []M{{"LTarget": "${node.unique.name}", "RTarget": n2, "Operand": "=", "Weight": 100}}
		return job
	}
	// Binpack alone would put it next to the first job, on node 1.
	a.register(sleeper("a0", 64))
	if got := a.nodeOfJob("a0"); got == n2 {
		t.Fatalf("a0 on %s", got)
	}
	a.register(prefer(sleeper("a1", 64)))
	if got := a.nodeOfJob("a1"); got != n2 {
		t.Errorf("affinity ignored: a1 on %s", got)
	}
	// An affinity never overrides capacity: with node 2 too full, node 1.
	_, nodeMem := a.srv.nodes[1].capacity()
	a.register(prefer(sleeper("a2", nodeMem*6/10)))
	if got := a.nodeOfJob("a2"); got != n2 {
		t.Fatalf("a2 on %s", got)
	}
	a.register(prefer(sleeper("a3", nodeMem*6/10)))
	if got := a.nodeOfJob("a3"); got == n2 {
		t.Errorf("a3 placed on the full node %s", got)
	}
	// A negative weight steers away.
	avoid := sleeper("a4", 64)
	avoid["Affinities"] = []M{{"LTarget": "${node.unique.name}", "RTarget": a.srv.nodes[0].node.Name, "Operand": "=", "Weight": -100}}
	a.register(avoid)
	if got := a.nodeOfJob("a4"); got != n2 {
		t.Errorf("negative affinity ignored: a4 on %s", got)
	}
	for _, id := range []string{"a0", "a1", "a2", "a3", "a4"} {
		a.stopJob(id)
	}
}
