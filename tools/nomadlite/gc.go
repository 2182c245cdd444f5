package main

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// gcLoop collects finished allocations, evaluations and dead jobs older than
// -gc-age, as Nomad's periodic core-scheduler GC does.
func (s *Server) gcLoop() {
	every := min(s.cfg.GCAge/4, time.Minute)
	every = max(every, time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.gcOnce(time.Now().Add(-s.cfg.GCAge))
		}
	}
}

// gcOnce removes what finished before cutoff: terminal allocations (and
// their directories), terminal evaluations of dead or missing jobs, and dead
// jobs with nothing left. Returns how many allocations were collected.
func (s *Server) gcOnce(cutoff time.Time) int {
	c := cutoff.UnixNano()
	st := s.st
	st.mu.Lock()
	var dirs []string
	for id, a := range st.Allocs {
		if clientTerminal(a) && a.ModifyTime < c && s.runner(id) == nil {
			delete(st.Allocs, id)
			dirs = append(dirs, id)
		}
	}
	nEvals := 0
	for id, e := range st.Evals {
		if e.Status == "pending" || e.Status == "blocked" || e.ModifyTime >= c {
			continue
		}
		if j := st.Jobs[e.JobID]; j == nil || deref(j.Status) == "dead" {
			delete(st.Evals, id)
			nEvals++
		}
	}
	nJobs := 0
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
	st.mu.Unlock()
	for _, id := range dirs {
		s.removeAllocDir(id)
	}
	if len(dirs)+nEvals+nJobs > 0 {
		logf("gc: collected %d alloc(s), %d eval(s), %d job(s) finished before %s", len(dirs), nEvals, nJobs, cutoff.Format(time.RFC3339))
	}
	return len(dirs)
}

func (s *Server) removeAllocDir(id string) {
	if id == "" || strings.ContainsAny(id, "/.") {
		return
	}
	releaseSecrets(s.allocDir(id))
	if err := os.RemoveAll(s.allocDir(id)); err != nil {
		logf("gc: remove alloc dir %s: %v", id, err)
	}
}

// recoverLost handles allocations that were live when the previous agent
// stopped: their leftover process groups are killed and they are reported
// the way Nomad reports a lost client's allocations (ClientStatus lost,
// DesiredStatus stop), each unfinished task dead with a Killed event saying why.
func (s *Server) recoverLost() {
	st := s.st
	st.mu.Lock()
	defer st.mu.Unlock()
	for key, pid := range st.Pids {
		if pgidOf(pid) == pid {
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
