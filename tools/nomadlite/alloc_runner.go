package main

import (
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/nomad/api"
)

// allocRunner runs one allocation through Nomad's lifecycle: prestart tasks,
// then main tasks (with sidecars and poststart), then poststop tasks — the
// poststop phase runs whatever happened before (success, failure, stop).
type allocRunner struct {
	s    *Server
	node *clientNode
	id   string
	job  *api.Job
	tg   *api.TaskGroup
	dir  string

	mu      sync.Mutex
	stopped bool
	phase   string
	live    map[string]*taskRunner
}

func (s *Server) runner(id string) *allocRunner {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	return s.runners[id]
}

func (s *Server) startRunners(allocs []*api.Allocation) {
	perNode := map[*clientNode]int{}
	for _, a := range allocs {
		perNode[s.nodeOf(a)]++
	}
	for n, k := range perNode {
		s.makeRoomFor(n, k)
	}
	for _, a := range allocs {
		s.toClient(s.nodeOf(a), func() { s.startRunner(a) })
	}
}

// startRunner starts the allocation's runner, unless the servers stopped or
// forgot it before its node's client received it.
func (s *Server) startRunner(a *api.Allocation) {
	var job *api.Job
	var tg *api.TaskGroup
	live := false
	s.st.locked(func() {
		if live = s.st.Allocs[a.ID] == a && a.DesiredStatus == "run"; live {
			job, tg = a.Job, allocGroup(a)
		}
	})
	if !live {
		return
	}
	ar := &allocRunner{s: s, node: s.nodeOf(a), id: a.ID, job: job, tg: tg, dir: s.allocDir(a), live: map[string]*taskRunner{}}
	s.runMu.Lock()
	s.runners[a.ID] = ar
	s.runMu.Unlock()
	go ar.run()
}

// requestStop kills what runs in the prestart/main phases; poststop tasks
// are left to finish, as Nomad lets them.
func (ar *allocRunner) requestStop() {
	ar.mu.Lock()
	defer ar.mu.Unlock()
	ar.stopped = true
	if ar.phase == "poststop" {
		return
	}
	for _, tr := range ar.live {
		tr.requestKill(killReq{})
	}
}

func (ar *allocRunner) isStopped() bool {
	ar.mu.Lock()
	defer ar.mu.Unlock()
	return ar.stopped
}

func hook(t *api.Task) string {
	if t.Lifecycle == nil {
		return ""
	}
	if t.Lifecycle.Hook == "prestart" && t.Lifecycle.Sidecar {
		return "sidecar"
	}
	return t.Lifecycle.Hook
}

func (ar *allocRunner) run() {
	s := ar.s
	defer func() {
		s.runMu.Lock()
		delete(s.runners, ar.id)
		s.runMu.Unlock()
		go s.retryBlocked(false)
	}()
	// Every task's user may write to the shared dirs, as Nomad's AllocDir.Build makes them (0777,
	// whatever the umask): a task with LogConfig.Disabled writes its own log in alloc/logs.
	for _, d := range []string{"alloc/logs", "alloc/data", "alloc/tmp"} {
		if dir := filepath.Join(ar.dir, d); os.MkdirAll(dir, 0o777) == nil {
			_ = os.Chmod(dir, 0o777)
		}
	}
	var pre, mains, side, post []*api.Task
	for _, t := range ar.tg.Tasks {
		switch hook(t) {
		case "prestart":
			pre = append(pre, t)
		case "sidecar", "poststart":
			side = append(side, t)
		case "poststop":
			post = append(post, t)
		default:
			mains = append(mains, t)
		}
	}
	ar.update(func(a *api.Allocation) {
		a.TaskStates = map[string]*api.TaskState{}
		for _, t := range ar.tg.Tasks {
			a.TaskStates[t.Name] = &api.TaskState{State: "pending", Events: []*api.TaskEvent{
				event("Received", "Task received by client")}}
		}
	})
	logf("alloc %s (%s) started", ar.id[:8], ar.jobName())
	failed := ""
	// Tasks that never start only get the kill events: the main tasks after a failed prestart
	// or a stop, and the prestart ones too when the stop came before them.
	never := append(append([]*api.Task{}, mains...), side...)
	if len(pre) > 0 {
		if ar.isStopped() {
			never = append(append([]*api.Task{}, pre...), never...)
		} else {
			failed = ar.runPhase("prestart", pre, nil)
		}
	}
	if failed == "" && !ar.isStopped() {
		failed = ar.runPhase("main", mains, side)
	} else {
		for _, t := range never {
			ar.skipTask(t, failed)
		}
	}
	ar.mu.Lock()
	ar.phase = "poststop"
	ar.mu.Unlock()
	if len(post) > 0 {
		ar.runPhase("poststop", post, nil)
	}
	if ar.update(nil) == nil {
		// Purged while running: nothing refers to the directory any more.
		s.removeAllocDir(ar.dir)
	}
	logf("alloc %s (%s) finished", ar.id[:8], ar.jobName())
}

func (ar *allocRunner) jobName() string { return deref(ar.job.ID) + "." + deref(ar.tg.Name) }

// runPhase runs tasks in parallel (plus sidecars that are killed once the
// tasks are done) and returns the first task that failed. A failure kills
// every other live task of the phase with "Sibling Task Failed".
func (ar *allocRunner) runPhase(phase string, tasks, sidecars []*api.Task) string {
	type result struct {
		name   string
		main   bool
		failed bool
	}
	all := append(append([]*api.Task{}, tasks...), sidecars...)
	if len(all) == 0 {
		return ""
	}
	runners := map[string]*taskRunner{}
	ar.mu.Lock()
	ar.phase = phase
	for _, t := range all {
		tr := &taskRunner{task: t, kill: make(chan killReq, 1)}
		runners[t.Name] = tr
		ar.live[t.Name] = tr
	}
	if ar.stopped && phase != "poststop" {
		for _, tr := range runners {
			tr.requestKill(killReq{})
		}
	}
	ar.mu.Unlock()
	results := make(chan result, len(all))
	isMain := map[string]bool{}
	for _, t := range tasks {
		isMain[t.Name] = true
	}
	for _, t := range all {
		tr := runners[t.Name]
		go func() { results <- result{tr.task.Name, isMain[tr.task.Name], ar.runTask(tr)} }()
	}
	failed := ""
	mainsLeft := len(tasks)
	for range all {
		r := <-results
		ar.mu.Lock()
		delete(ar.live, r.name)
		if r.failed && failed == "" {
			failed = r.name
			for _, tr := range ar.live {
				tr.requestKill(killReq{sibling: r.name})
			}
		}
		if r.main {
			mainsLeft--
			if mainsLeft == 0 {
				for _, tr := range ar.live {
					tr.requestKill(killReq{})
				}
			}
		}
		ar.mu.Unlock()
	}
	return failed
}

// skipTask records a task that will never run because an earlier phase
// failed or the allocation was stopped (Nomad: Sibling Task Failed?, Killing).
func (ar *allocRunner) skipTask(t *api.Task, failedSibling string) {
	ar.updateTask(t.Name, func(ts *api.TaskState) {
		if failedSibling != "" {
			ts.Events = append(ts.Events, siblingEvent(failedSibling))
		}
		ts.Events = append(ts.Events, killingEvent(killTimeout(t)))
		ts.State, ts.FinishedAt = "dead", time.Now().UTC()
	})
}

// update applies fn to the allocation under the lock, moves its index and
// derives its client status from its tasks. Returns nil if the alloc is gone
// (purged).
func (ar *allocRunner) update(fn func(a *api.Allocation)) *api.Allocation {
	s := ar.s
	return lockedValue(s.st, func() *api.Allocation {
		a := s.st.Allocs[ar.id]
		if a == nil {
			return nil
		}
		if fn == nil {
			return a
		}
		if shadow := s.shadows[ar.id]; shadow != nil {
			// Cut off: the servers learn this when the node is healed.
			fn(shadow)
			return shadow
		}
		fn(a)
		a.ModifyIndex, a.ModifyTime = s.st.bump(), now()
		wasTerminal := clientTerminal(a)
		if a.ClientStatus != "lost" {
			// The servers gave up on a lost allocation: its client's news no
			// longer changes that.
			a.ClientStatus, a.ClientDescription = deriveClientStatus(a)
		}
		if !wasTerminal && clientTerminal(a) {
			logf("alloc %s %s", ar.id[:8], a.ClientStatus)
		}
		s.updateJobStatus(a.JobID)
		return a
	})
}

func (ar *allocRunner) updateTask(name string, fn func(ts *api.TaskState)) {
	ar.update(func(a *api.Allocation) {
		if ts := a.TaskStates[name]; ts != nil {
			fn(ts)
		}
	})
}

func deriveClientStatus(a *api.Allocation) (string, string) {
	allDead, anyFailed, anyStarted := true, false, false
	for _, ts := range a.TaskStates {
		if ts.State != "dead" {
			allDead = false
		}
		if ts.State == "running" || ts.State == "dead" {
			anyStarted = true
		}
		if ts.Failed {
			anyFailed = true
		}
	}
	switch {
	case len(a.TaskStates) == 0:
		return "pending", "No tasks have started"
	case allDead && anyFailed:
		return "failed", "Failed tasks"
	case allDead:
		return "complete", "All tasks have completed"
	case anyStarted:
		return "running", "Tasks are running"
	}
	return "pending", "No tasks have started"
}
