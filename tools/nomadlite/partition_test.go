package main

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

// disconnectJob runs script on the first node binpack picks, with the
// group's Disconnect block.
func disconnectJob(id, script string, disconnect M) M {
	j := batchJob(id, task("main", script, ""))
	j["TaskGroups"].([]M)[0]["Disconnect"] = disconnect
	return j
}

func (a *testAgent) cut(node string, heal bool) M {
	a.t.Helper()
	op := "partition"
	if heal {
		op = "heal"
	}
	var out M
	code, _, b := a.do("POST", "/v1/nomadlite/node/"+node+"/"+op, nil)
	if code != 200 {
		a.t.Fatalf("%s %s: %d %s", op, node, code, b)
	}
	_ = json.Unmarshal(b, &out)
	return out
}

func (a *testAgent) nodeByName(name string) M {
	a.t.Helper()
	for _, n := range a.srv.nodes {
		if n.node.Name == name {
			var out M
			a.getJSON("/v1/node/"+n.node.ID, &out)
			return out
		}
	}
	a.t.Fatalf("no node %s", name)
	return nil
}

func (a *testAgent) evalTriggers(job string) []string {
	var evals []M
	a.getJSON("/v1/job/"+job+"/evaluations", &evals)
	var out []string
	for _, e := range evals {
		out = append(out, e["TriggeredBy"].(string))
	}
	slices.Sort(out)
	return out
}

func lastNodeEvent(n M) string {
	evs, _ := n["Events"].([]any)
	if len(evs) == 0 {
		return ""
	}
	return evs[len(evs)-1].(map[string]any)["Message"].(string)
}

func TestPartitionAdminEndpoint(t *testing.T) {
	t.Parallel()
	a := startAgentWith(t, Config{Nodes: 2})
	if code, _, b := a.do("POST", "/v1/nomadlite/node/nope/partition", nil); code != 404 || string(b) != "node not found" {
		t.Errorf("unknown node: %d %s", code, b)
	}
	n := a.srv.nodes[1].node
	if got := a.cut(n.ID, false); got["Partitioned"] != true || got["Name"] != n.Name || got["Status"] != "ready" {
		t.Errorf("partition by ID: %v", got)
	}
	if got := a.cut(n.Name, true); got["Partitioned"] != false || got["NodeID"] != n.ID || got["Status"] != "ready" {
		t.Errorf("heal by name: %v", got)
	}
}

func TestLostNodeWithoutLostAfterIsReplaced(t *testing.T) {
	t.Parallel()
	a := startAgentWith(t, Config{Nodes: 2, HeartbeatTTL: time.Second})
	a.register(disconnectJob("lost", "sleep 30", M{"Replace": false}))
	var job M
	a.getJSON("/v1/job/lost", &job)
	g := job["TaskGroups"].([]any)[0].(map[string]any)
	if d, _ := json.Marshal(g["Disconnect"]); string(d) != `{"LostAfter":0,"Reconcile":"best_score","Replace":false,"StopOnClientAfter":null}` || g["PreventRescheduleOnLost"] != false {
		t.Errorf("stored Disconnect %s, PreventRescheduleOnLost %v", d, g["PreventRescheduleOnLost"])
	}
	first := a.waitAlloc("lost", 5*time.Second, func(al M) bool { return al["ClientStatus"] == "running" })
	node, id := first["NodeName"].(string), first["ID"].(string)
	if got := a.cut(node, false); got["Partitioned"] != true {
		t.Fatalf("partition: %v", got)
	}
	time.Sleep(500 * time.Millisecond)
	if st := a.nodeByName(node)["Status"]; st != "ready" {
		t.Errorf("node %s before the TTL", st)
	}
	var old M
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		a.getJSON("/v1/allocation/"+id, &old)
		if old["ClientStatus"] == "lost" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	n := a.nodeByName(node)
	if n["Status"] != "down" || lastNodeEvent(n) != nodeEventHeartbeatMissed {
		t.Errorf("node %v, last event %q", n["Status"], lastNodeEvent(n))
	}
	if old["ClientStatus"] != "lost" || old["DesiredStatus"] != "stop" || old["DesiredDescription"] != allocLostDescription ||
		old["ClientDescription"] != allocUnknownDescription || old["NextAllocation"] == "" {
		t.Fatalf("lost alloc: %v %v %q %q next=%v", old["ClientStatus"], old["DesiredStatus"], old["DesiredDescription"], old["ClientDescription"], old["NextAllocation"])
	}
	var repl M
	a.getJSON("/v1/allocation/"+old["NextAllocation"].(string), &repl)
	if repl["PreviousAllocation"] != id || repl["NodeName"] == node || repl["Name"] != old["Name"] {
		t.Errorf("replacement: previous %v on %v named %v", repl["PreviousAllocation"], repl["NodeName"], repl["Name"])
	}
	if got := a.evalTriggers("lost"); !slices.Equal(got, []string{"job-register", "max-disconnect-timeout", "node-update"}) {
		t.Errorf("evaluations: %v", got)
	}
	if len(procsOfAlloc(id)) == 0 {
		t.Errorf("the lost alloc's task stopped while its node was cut off")
	}
	// Healed: Nomad's client stops what the servers gave up on.
	a.cut(node, true)
	if n := a.nodeByName(node); n["Status"] != "ready" || lastNodeEvent(n) != nodeEventReregistered {
		t.Errorf("healed node %v, last event %q", n["Status"], lastNodeEvent(n))
	}
	assertNoProcs(t, id)
	a.getJSON("/v1/allocation/"+id, &old)
	if old["ClientStatus"] != "lost" {
		t.Errorf("lost alloc after heal: %v", old["ClientStatus"])
	}
	a.stopJob("lost")
}

func TestLostAfterKeepsAllocUnknownUntilHealed(t *testing.T) {
	t.Parallel()
	a := startAgentWith(t, Config{Nodes: 2, HeartbeatTTL: time.Second})
	a.register(disconnectJob("unknown", "sleep 2.5; echo finished", M{"LostAfter": int64(time.Hour), "Replace": false}))
	first := a.waitAlloc("unknown", 5*time.Second, func(al M) bool { return al["ClientStatus"] == "running" })
	node, id := first["NodeName"].(string), first["ID"].(string)
	a.cut(node, false)
	al := a.waitAlloc("unknown", 5*time.Second, func(al M) bool { return al["ClientStatus"] == "unknown" })
	if al["DesiredStatus"] != "run" || al["NextAllocation"] != "" {
		t.Errorf("unknown alloc: desired %v next %v", al["DesiredStatus"], al["NextAllocation"])
	}
	states, _ := al["AllocStates"].([]any)
	if len(states) != 1 || states[0].(map[string]any)["Value"] != "unknown" || states[0].(map[string]any)["Field"] != float64(0) {
		t.Errorf("AllocStates: %v", al["AllocStates"])
	}
	// The task ends meanwhile; the servers do not hear of it.
	time.Sleep(2500 * time.Millisecond)
	a.getJSON("/v1/allocation/"+id, &al)
	if al["ClientStatus"] != "unknown" || len(a.allocs("unknown")) != 1 {
		t.Fatalf("while cut off: %v, %d allocs", al["ClientStatus"], len(a.allocs("unknown")))
	}
	a.cut(node, true)
	al = a.waitAlloc("unknown", 5*time.Second, done)
	if al["ClientStatus"] != "complete" || al["ID"] != id || len(a.allocs("unknown")) != 1 {
		t.Errorf("after heal: %s, %d allocs", summarize(al), len(a.allocs("unknown")))
	}
	if evs := eventTypes(al, "main"); slices.Contains(evs, "Killing") {
		t.Errorf("task was stopped: %v", evs)
	}
	if out := a.logs(id, "main", "stdout", ""); out != "finished\n" {
		t.Errorf("stdout %q", out)
	}
	if got := a.evalTriggers("unknown"); !slices.Equal(got, []string{"job-register", "max-disconnect-timeout", "node-update"}) {
		t.Errorf("evaluations: %v", got)
	}
}

func TestLostAfterRunsOut(t *testing.T) {
	t.Parallel()
	a := startAgentWith(t, Config{Nodes: 2, HeartbeatTTL: time.Second})
	a.register(disconnectJob("expire", "sleep 30", M{"LostAfter": int64(time.Second), "Replace": false}))
	first := a.waitAlloc("expire", 5*time.Second, func(al M) bool { return al["ClientStatus"] == "running" })
	node, id := first["NodeName"].(string), first["ID"].(string)
	a.cut(node, false)
	a.waitAlloc("expire", 5*time.Second, func(al M) bool { return al["ID"] == id && al["ClientStatus"] == "unknown" })
	if n := len(a.allocs("expire")); n != 1 {
		t.Fatalf("replaced while unknown: %d allocs", n)
	}
	lost := a.waitAlloc("expire", 5*time.Second, func(al M) bool { return al["ID"] == id && al["ClientStatus"] == "lost" })
	repl := a.waitAlloc("expire", 5*time.Second, func(al M) bool { return al["ID"] == lost["NextAllocation"] && al["ClientStatus"] == "running" })
	if repl["NodeName"] == node || repl["PreviousAllocation"] != id {
		t.Errorf("replacement on %v, previous %v", repl["NodeName"], repl["PreviousAllocation"])
	}
	a.cut(node, true)
	assertNoProcs(t, id)
	a.stopJob("expire")
}

func TestStopWhilePartitionedReachesClientWhenHealed(t *testing.T) {
	t.Parallel()
	a := startAgentWith(t, Config{Nodes: 2, HeartbeatTTL: time.Hour})
	a.register(disconnectJob("stopcut", "sleep 30", M{"Replace": false}))
	first := a.waitAlloc("stopcut", 5*time.Second, func(al M) bool { return al["ClientStatus"] == "running" })
	node, id := first["NodeName"].(string), first["ID"].(string)
	a.cut(node, false)
	a.stopJob("stopcut")
	time.Sleep(300 * time.Millisecond)
	if len(procsOfAlloc(id)) == 0 {
		t.Fatal("the stop reached a cut-off node")
	}
	a.cut(node, true)
	assertNoProcs(t, id)
	al := a.waitAlloc("stopcut", 5*time.Second, done)
	if al["ClientStatus"] != "complete" || !slices.Contains(eventTypes(al, "main"), "Killed") {
		t.Errorf("after heal: %s", summarize(al))
	}
}
