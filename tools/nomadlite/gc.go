package main

import (
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/nomad/api"
)

// gcLoop collects finished allocations, evaluations and dead jobs older than
// -gc-age, as Nomad's periodic core-scheduler GC does.
func (s *Server) gcLoop() {
	every(s.stop, max(min(s.cfg.GCAge/4, time.Minute), time.Second), func() {
		s.gcOnce(time.Now().Add(-s.cfg.GCAge))
		for _, n := range s.nodes {
			s.makeRoomFor(n, 0)
		}
	})
}

// systemGC serves PUT /v1/system/gc (`nomad system gc`): the GC runs now for
// everything finished until now. Nomad answers 200 with no body.
func (s *Server) systemGC(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPut {
		httpError(w, http.StatusMethodNotAllowed, "Invalid method")
		return
	}
	s.gcOnce(time.Now())
	w.WriteHeader(http.StatusOK)
}

// clientHolds: the node still has the allocation's directory, so the client
// fs endpoints can answer for it. Nomad's client forgets an allocation it has
// collected (gc_max_allocs) while the server still knows it.
func (s *Server) clientHolds(a *api.Allocation) bool {
	_, err := os.Stat(s.allocDir(a))
	return err == nil
}

// makeRoomFor is Nomad's client GC by count (gc_max_allocs), for n
// allocations about to start on the node: while it holds more than GCMaxAllocs-n
// allocations, the terminal ones are collected oldest first — their
// directories removed, the allocations left to the server. Running ones are
// never collected, so the node may stay over the limit.
func (s *Server) makeRoomFor(node *clientNode, n int) {
	if s.cfg.GCMaxAllocs <= 0 {
		return
	}
	var dirs []string
	s.st.locked(func() {
		held, done := 0, []*api.Allocation{}
		for id, a := range s.st.Allocs {
			if s.nodeOf(a) != node || !s.clientHolds(a) {
				continue
			}
			held++
			if clientTerminal(a) && s.runner(id) == nil {
				done = append(done, a)
			}
		}
		sort.Slice(done, func(i, j int) bool { return done[i].ModifyTime < done[j].ModifyTime })
		for ; held > s.cfg.GCMaxAllocs-n && len(done) > 0; held-- {
			dirs, done = append(dirs, s.allocDir(done[0])), done[1:]
		}
	})
	for _, dir := range dirs {
		s.removeAllocDir(dir)
		logf("gc: collected alloc dir %s: more than %d allocations on node %s (gc-max-allocs)", filepath.Base(dir)[:8], s.cfg.GCMaxAllocs, node.node.Name)
	}
}

// gcOnce removes what finished before cutoff: terminal allocations of dead
// or missing jobs (and their directories), terminal evaluations of those
// jobs, and dead jobs with nothing left. Returns how many allocations were
// collected.
func (s *Server) gcOnce(cutoff time.Time) int {
	c := cutoff.UnixNano()
	st := s.st
	var dirs []string
	nEvals, nJobs := 0, 0
	st.locked(func() {
		for id, a := range st.Allocs {
			j := st.Jobs[a.JobID]
			if clientTerminal(a) && a.ModifyTime < c && s.runner(id) == nil && (j == nil || deref(j.Status) == "dead") {
				delete(st.Allocs, id)
				delete(st.AllocStates, id)
				dirs = append(dirs, s.allocDir(a))
			}
		}
		for id, e := range st.Evals {
			if e.Status == "pending" || e.Status == "blocked" || e.ModifyTime >= c {
				continue
			}
			if j := st.Jobs[e.JobID]; j == nil || deref(j.Status) == "dead" {
				delete(st.Evals, id)
				nEvals++
			}
		}
		for id, j := range st.Jobs {
			if deref(j.Status) != "dead" || deref(j.SubmitTime) >= c {
				continue
			}
			left := false
			for _, a := range st.Allocs {
				left = left || a.JobID == id
			}
			for _, e := range st.Evals {
				left = left || e.JobID == id
			}
			if !left {
				delete(st.Jobs, id)
				nJobs++
			}
		}
		if len(dirs)+nEvals+nJobs > 0 {
			st.bump()
		}
	})
	for _, dir := range dirs {
		s.removeAllocDir(dir)
	}
	if len(dirs)+nEvals+nJobs > 0 {
		logf("gc: collected %d alloc(s), %d eval(s), %d job(s) finished before %s", len(dirs), nEvals, nJobs, cutoff.Format(time.RFC3339))
	}
	return len(dirs)
}

// removeAllocDir removes an allocation's directory, which must be one of a
// node's: a bad ID must never reach above the nodes' alloc roots.
func (s *Server) removeAllocDir(dir string) {
	id := filepath.Base(dir)
	if id == "" || strings.ContainsAny(id, "/.") {
		return
	}
	releaseSecrets(dir)
	if err := os.RemoveAll(dir); err != nil {
		logf("gc: remove alloc dir %s: %v", id, err)
	}
}

// recoverLost handles allocations that were live when the previous agent
// stopped: their leftover process groups are killed and they are reported
// the way Nomad reports a lost client's allocations (ClientStatus lost,
// DesiredStatus stop), each unfinished task dead with a Killed event saying why.
func (s *Server) recoverLost() {
	st := s.st
	st.locked(func() {
		for key, pid := range st.Pids {
			if pid > 0 && pgidOf(pid) == pid {
				_ = syscall.Kill(-pid, syscall.SIGKILL)
				logf("killed leftover process group %d of %s", pid, key)
			}
			delete(st.Pids, key)
		}
		for _, a := range st.Allocs {
			if clientTerminal(a) {
				continue
			}
			idx := st.bump()
			for _, ts := range a.TaskStates {
				if ts.State == "dead" {
					continue
				}
				msg := "Task lost: nomadlite restarted while the task was running; its processes were killed"
				if ts.StartedAt.IsZero() {
					msg = "Task lost: nomadlite restarted before the task started"
				}
				e := event("Killed", msg)
				e.KillReason = msg
				ts.Events = append(ts.Events, e)
				ts.State, ts.FinishedAt = "dead", time.Now().UTC()
			}
			// Its tasks are dead now: nothing needs their secrets/ any more.
			releaseSecrets(s.allocDir(a))
			a.ClientStatus, a.ClientDescription = "lost", "alloc is lost since its node is down"
			if a.DesiredStatus == "run" {
				a.DesiredStatus, a.DesiredDescription = "stop", "alloc is lost since its node is down"
			}
			a.ModifyIndex, a.ModifyTime = idx, now()
			logf("alloc %s of job %s marked lost (agent restarted while it ran)", a.ID[:8], a.JobID)
		}
		for id := range st.Jobs {
			s.updateJobStatus(id)
		}
	})
}

// pgidOf reads a process's group id from /proc (0 if it is gone).
func pgidOf(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 3 {
		return 0
	}
	g, _ := strconv.Atoi(f[2])
	return g
}
