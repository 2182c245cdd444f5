package main

import (
	"net/http"
	"time"

	"github.com/hashicorp/nomad/api"
)

// nodeLink is a node's connection to the servers. nomadlite runs servers
// and clients in one process, so a partition is simulated: the node's tasks
// keep running, but what its client reports is held back (see shadows) and
// what the servers send it (starts, stops) waits in deferred until healed.
type nodeLink struct {
	partitioned bool
	since       time.Time
	deferred    []func()
}

// Nomad's node event messages (nomad/heartbeat.go, node_endpoint.go).
const (
	nodeEventHeartbeatMissed = "Node heartbeat missed"
	nodeEventReregistered    = "Node reregistered by heartbeat"
)

// Nomad's descriptions of an allocation of a node that stopped heartbeating.
const (
	allocUnknownDescription = "alloc is unknown since its node is disconnected"
	allocLostDescription    = "alloc is lost since its node is down"
)

// allocState is Nomad's AllocState, which api.Allocation lacks: a change of
// the allocation's client status made by the servers. Field is Nomad's
// AllocStateField enum, which the API sends as its number (seen on 2.0.5).
type allocState struct {
	Field uint8
	Value string
	Time  time.Time
}

// allocStateFieldClientStatus is the only AllocStateField Nomad has.
const allocStateFieldClientStatus uint8 = 0

// toClient runs fn, the delivery of something from the servers to the
// node's client, now, or when the node is healed if it is cut off.
func (s *Server) toClient(n *clientNode, fn func()) {
	s.nodeMu.Lock()
	if n.link.partitioned {
		n.link.deferred = append(n.link.deferred, fn)
		s.nodeMu.Unlock()
		return
	}
	s.nodeMu.Unlock()
	fn()
}

func (s *Server) partitioned(n *clientNode) bool {
	s.nodeMu.Lock()
	defer s.nodeMu.Unlock()
	return n.link.partitioned
}

// partition cuts the node off: from now on its allocations' task states are
// kept in shadows, the client's own view, which the servers see only when
// the node is healed.
func (s *Server) partition(n *clientNode) {
	s.st.locked(func() {
		s.nodeMu.Lock()
		already := n.link.partitioned
		n.link.partitioned, n.link.since = true, time.Now()
		s.nodeMu.Unlock()
		if already {
			return
		}
		for _, a := range s.st.Allocs {
			if s.nodeOf(a) == n && !clientTerminal(a) {
				s.shadows[a.ID] = deepCopy(a)
			}
		}
		logf("node %s partitioned: no heartbeats, no client updates until healed", n.node.Name)
	})
}

// heal reconnects the node, as a client that heartbeats again: the node is
// ready, the servers learn the task states the client kept meanwhile (an
// unknown allocation gets its real status back), and what waited for the
// client is delivered, including the stop of allocations the servers gave
// up on (lost) or stopped meanwhile.
func (s *Server) heal(n *clientNode) {
	st := s.st
	var was bool
	var deferred []func()
	var stop []*allocRunner
	st.locked(func() {
		s.nodeMu.Lock()
		was = n.link.partitioned
		deferred = n.link.deferred
		n.link = nodeLink{}
		if n.node.Status != "ready" {
			idx := st.bump()
			n.node.Status, n.node.StatusUpdatedAt, n.node.ModifyIndex = "ready", time.Now().Unix(), idx
			n.node.Events = append(n.node.Events, &api.NodeEvent{Message: nodeEventReregistered, Subsystem: "Cluster", Timestamp: time.Now(), CreateIndex: idx})
		}
		s.nodeMu.Unlock()
		for id, shadow := range s.shadows {
			a := st.Allocs[id]
			if a == nil || s.nodeOf(a) != n {
				continue
			}
			delete(s.shadows, id)
			a.TaskStates = shadow.TaskStates
			if a.ClientStatus != "lost" {
				a.ClientStatus, a.ClientDescription = deriveClientStatus(a)
			}
			if e := st.Evals[a.FollowupEvalID]; e != nil && e.Status == "pending" {
				// The disconnect timeout has nothing left to do.
				e.Status, e.ModifyIndex, e.ModifyTime = "complete", st.bump(), now()
			}
			a.ModifyIndex, a.ModifyTime = st.bump(), now()
			if a.DesiredStatus != "run" {
				if ar := s.runner(id); ar != nil {
					stop = append(stop, ar)
				}
			}
			s.updateJobStatus(a.JobID)
		}
	})
	if was {
		logf("node %s healed: %d delivery(ies) to its client, %d alloc(s) to stop", n.node.Name, len(deferred), len(stop))
	}
	for _, fn := range deferred {
		fn()
	}
	s.stopRunners(stop)
	go s.retryBlocked(true)
}

// heartbeatLoop is the servers' heartbeat timer: a node cut off for longer
// than the TTL is down, and an allocation left unknown longer than its
// group's lost_after is lost.
func (s *Server) heartbeatLoop() {
	every(s.stop, min(max(s.cfg.HeartbeatTTL/10, 10*time.Millisecond), time.Second), s.checkHeartbeats)
}

func (s *Server) checkHeartbeats() {
	var replaced []*api.Allocation
	st := s.st
	st.locked(func() {
		for _, n := range s.nodes {
			s.nodeMu.Lock()
			missed := n.link.partitioned && n.node.Status == "ready" && time.Since(n.link.since) >= s.cfg.HeartbeatTTL
			s.nodeMu.Unlock()
			if missed {
				replaced = append(replaced, s.nodeDown(n)...)
			}
		}
		for _, a := range st.Allocs {
			if a.ClientStatus != "unknown" {
				continue
			}
			if f := st.Evals[a.FollowupEvalID]; f != nil && f.Status == "pending" && !time.Now().Before(f.WaitUntil) {
				replaced = append(replaced, s.loseAlloc(a, f)...)
				s.updateJobStatus(a.JobID)
			}
		}
	})
	s.startRunners(replaced)
}

// nodeDown is what Nomad's servers do when a node's heartbeat TTL runs out:
// the node is down, each job with allocations there gets a node-update
// evaluation, and each allocation still meant to run becomes unknown for
// its group's lost_after (a max-disconnect-timeout evaluation waits for
// that), or lost and replaced at once without one. Call with the lock held;
// returns the replacements to start.
func (s *Server) nodeDown(n *clientNode) []*api.Allocation {
	st := s.st
	idx := st.bump()
	s.nodeMu.Lock()
	n.node.Status, n.node.StatusUpdatedAt, n.node.ModifyIndex = "down", time.Now().Unix(), idx
	n.node.Events = append(n.node.Events, &api.NodeEvent{Message: nodeEventHeartbeatMissed, Subsystem: "Cluster", Timestamp: time.Now(), CreateIndex: idx})
	s.nodeMu.Unlock()
	logf("node %s down: no heartbeat for %v", n.node.Name, s.cfg.HeartbeatTTL)
	evals := map[string]*api.Evaluation{}
	var replaced []*api.Allocation
	for _, a := range s.sortedAllocs(func(a *api.Allocation) bool {
		return s.nodeOf(a) == n && a.DesiredStatus == "run" && !clientTerminal(a)
	}) {
		j := st.Jobs[a.JobID]
		if j == nil {
			continue
		}
		e := evals[a.JobID]
		if e == nil {
			e = s.newEval(j, "node-update", idx)
			e.NodeID, e.NodeModifyIndex = n.node.ID, idx
			evals[a.JobID] = e
		}
		lostAfter := time.Duration(0)
		if tg := allocGroup(a); tg != nil && tg.Disconnect != nil {
			lostAfter = deref(tg.Disconnect.LostAfter)
		}
		f := s.newEval(j, "max-disconnect-timeout", st.bump())
		f.PreviousEval, f.WaitUntil = e.ID, time.Now().Add(lostAfter)
		a.FollowupEvalID = f.ID
		a.ClientStatus, a.ClientDescription = "unknown", allocUnknownDescription
		st.AllocStates[a.ID] = append(st.AllocStates[a.ID], allocState{Field: allocStateFieldClientStatus, Value: "unknown", Time: time.Now()})
		a.ModifyIndex, a.ModifyTime = st.bump(), now()
		if lostAfter == 0 {
			replaced = append(replaced, s.loseAlloc(a, f)...)
		} else {
			logf("alloc %s unknown: node %s down, lost after %v", a.ID[:8], n.node.Name, lostAfter)
		}
	}
	for id, e := range evals {
		s.finishEval(e, nil)
		s.updateJobStatus(id)
	}
	return replaced
}

// loseAlloc gives up on an allocation of a down node: lost, to stop, and,
// unless its job is stopped, replaced by evaluation f on another node (or
// queued by it, blocked, when none can take it). Call with the lock held.
func (s *Server) loseAlloc(a *api.Allocation, f *api.Evaluation) []*api.Allocation {
	st := s.st
	a.ClientStatus = "lost"
	if a.DesiredStatus == "run" {
		a.DesiredStatus, a.DesiredDescription = "stop", allocLostDescription
	}
	a.ModifyIndex, a.ModifyTime = st.bump(), now()
	j := st.Jobs[a.JobID]
	var placed []*api.Allocation
	failed := map[string]*api.AllocationMetric{}
	if j != nil && !deref(j.Stop) {
		for _, tg := range j.TaskGroups {
			if deref(tg.Name) != a.TaskGroup {
				continue
			}
			var m *api.AllocationMetric
			placed, m = s.placeGroup(j, tg, 1, placement{evalID: f.ID, previous: a})
			if m != nil {
				failed[a.TaskGroup] = m
			}
		}
	}
	for _, r := range placed {
		a.NextAllocation = r.ID
	}
	f.PlanAnnotations = planAnnotations(map[string]int{a.TaskGroup: len(placed)})
	s.finishEval(f, failed)
	logf("alloc %s lost (node down); replacement: %v", a.ID[:8], a.NextAllocation)
	return placed
}

// partitionAnswer is the admin endpoints' answer.
type partitionAnswer struct {
	NodeID      string
	Name        string
	Partitioned bool
	Status      string
}

// nodeLinkEndpoint serves POST /v1/nomadlite/node/{node}/partition and
// …/heal (node: ID or name), nomadlite's own: Nomad has no way to cut a
// client off but killing it or its network.
func (s *Server) nodeLinkEndpoint(cut bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		n := s.nodeByRef(r.PathValue("node"))
		if n == nil {
			httpError(w, 404, "node not found")
			return
		}
		if cut {
			s.partition(n)
		} else {
			s.heal(n)
		}
		s.nodeMu.Lock()
		ans := partitionAnswer{NodeID: n.node.ID, Name: n.node.Name, Partitioned: n.link.partitioned, Status: n.node.Status}
		s.nodeMu.Unlock()
		writeJSON(w, 200, ans)
	}
}
