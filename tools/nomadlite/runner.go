package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/nomad/api"
)

// killReq asks a running task to stop: because a sibling failed, because the
// allocation is stopping, or because the main tasks ended (sidecars).
type killReq struct {
	sibling string // failed sibling's name, if that is the reason
}

type taskRunner struct {
	task *api.Task
	kill chan killReq // buffered: the first reason wins
}

func (tr *taskRunner) requestKill(k killReq) {
	select {
	case tr.kill <- k:
	default:
	}
}

// allocRunner runs one allocation through Nomad's lifecycle: prestart tasks,
// then main tasks (with sidecars and poststart), then poststop tasks — the
// poststop phase runs whatever happened before (success, failure, stop).
type allocRunner struct {
	s   *Server
	id  string
	job *api.Job
	tg  *api.TaskGroup
	dir string

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
	for _, a := range allocs {
		s.st.mu.Lock()
		job, tg := a.Job, allocGroup(a)
		s.st.mu.Unlock()
		ar := &allocRunner{s: s, id: a.ID, job: job, tg: tg, dir: s.allocDir(a.ID), live: map[string]*taskRunner{}}
		s.runMu.Lock()
		s.runners[a.ID] = ar
		s.runMu.Unlock()
		go ar.run()
	}
}

func (s *Server) allocDir(id string) string { return filepath.Join(s.cfg.DataDir, "alloc", id) }

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
		go s.retryBlocked()
	}()
	for _, d := range []string{"alloc/logs", "alloc/data", "alloc/tmp"} {
		_ = os.MkdirAll(filepath.Join(ar.dir, d), 0o777)
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
	if len(pre) > 0 && !ar.isStopped() {
		failed = ar.runPhase("prestart", pre, nil)
	}
	if failed == "" && !ar.isStopped() {
		failed = ar.runPhase("main", mains, side)
	} else {
		// Main tasks never start: they only get the kill events.
		for _, t := range append(append([]*api.Task{}, mains...), side...) {
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
		s.removeAllocDir(ar.id)
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

func event(typ, msg string) *api.TaskEvent {
	return &api.TaskEvent{Type: typ, Time: now(), DisplayMessage: msg, Details: map[string]string{}}
}

func siblingEvent(name string) *api.TaskEvent {
	e := event("Sibling Task Failed", fmt.Sprintf("Task's sibling %q failed", name))
	e.FailedSibling, e.Details["failed_sibling"] = name, name
	return e
}

func killingEvent(d time.Duration) *api.TaskEvent {
	e := event("Killing", fmt.Sprintf("Sent interrupt. Waiting %s before force killing", d))
	e.KillTimeout, e.Details["kill_timeout"] = d, d.String()
	return e
}

func notRestartingEvent() *api.TaskEvent {
	e := event("Not Restarting", "Policy allows no restarts")
	e.FailsTask, e.RestartReason = true, "Policy allows no restarts"
	e.Details["fails_task"], e.Details["restart_reason"] = "true", "Policy allows no restarts"
	return e
}

func killTimeout(t *api.Task) time.Duration {
	if t.KillTimeout == nil || *t.KillTimeout <= 0 {
		return 5 * time.Second
	}
	return *t.KillTimeout
}

func killSignal(t *api.Task) syscall.Signal {
	switch strings.TrimPrefix(strings.ToUpper(t.KillSignal), "SIG") {
	case "INT":
		return syscall.SIGINT
	case "KILL":
		return syscall.SIGKILL
	case "HUP":
		return syscall.SIGHUP
	case "QUIT":
		return syscall.SIGQUIT
	case "USR1":
		return syscall.SIGUSR1
	case "USR2":
		return syscall.SIGUSR2
	}
	return syscall.SIGTERM
}

// failTask ends a task that could not be started (driver or template
// failure): the failure event, Not Restarting, Failed, no StartedAt.
func (ar *allocRunner) failTask(name string, ev *api.TaskEvent) bool {
	ar.updateTask(name, func(ts *api.TaskState) {
		ts.Events = append(ts.Events, ev, notRestartingEvent())
		ts.State, ts.Failed, ts.FinishedAt = "dead", true, time.Now().UTC()
	})
	return true
}

// runTask runs one raw_exec task to its end and reports whether it failed.
func (ar *allocRunner) runTask(tr *taskRunner) bool {
	t := tr.task
	ar.updateTask(t.Name, func(ts *api.TaskState) {
		e := event("Task Setup", "Building Task Directory")
		e.Message, e.Details["message"] = "Building Task Directory", "Building Task Directory"
		ts.Events = append(ts.Events, e)
	})
	taskDir := filepath.Join(ar.dir, t.Name)
	for _, d := range []string{"local", "tmp"} {
		_ = os.MkdirAll(filepath.Join(taskDir, d), 0o777)
	}
	if err := ar.s.secrets.build(filepath.Join(taskDir, "secrets"), ar.id+"-"+t.Name, secretsMB(t)); err != nil {
		msg := fmt.Sprintf("failed to build task directory for %q: %v", t.Name, err)
		e := event("Setup Failure", msg)
		e.SetupError, e.FailsTask = msg, true
		e.Details["setup_error"], e.Details["fails_task"] = msg, "true"
		return ar.failTask(t.Name, e)
	}
	env := ar.taskEnv(t, taskDir)
	tmplEnv, killed, err := ar.awaitTemplates(tr, taskDir, env)
	if killed != nil {
		ar.killedBeforeStart(t, *killed)
		return false
	}
	if err != nil {
		e := event("Template", "Template failed: "+err.Error())
		e.FailsTask, e.Details["fails_task"] = true, "true"
		e.Details["template_error"] = err.Error()
		return ar.failTask(t.Name, e)
	}
	for k, v := range tmplEnv {
		env[k] = v
	}
	command, _ := t.Config["command"].(string)
	command = ar.interpolate(command, env, t)
	var args []string
	if raw, ok := t.Config["args"].([]any); ok {
		for _, a := range raw {
			args = append(args, ar.interpolate(fmt.Sprint(a), env, t))
		}
	}
	bin, err := lookBinary(command, taskDir, env["PATH"])
	if err == nil && !ar.s.secrets.enforced() && inSecrets(ar.dir, bin) {
		// What a noexec mount would answer, where nomadlite could not make one.
		err = fmt.Errorf("failed to launch command with executor: rpc error: code = Unknown desc = fork/exec %s: permission denied", bin)
	}
	if err != nil {
		return ar.failTask(t.Name, driverFailure(err.Error()))
	}
	select {
	case k := <-tr.kill:
		// A sibling failed while this task was being set up.
		ar.killedBeforeStart(t, k)
		return false
	default:
	}
	logs := filepath.Join(ar.dir, "alloc", "logs")
	stdout, err1 := os.OpenFile(filepath.Join(logs, t.Name+".stdout.0"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o666)
	stderr, err2 := os.OpenFile(filepath.Join(logs, t.Name+".stderr.0"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o666)
	if err := errors.Join(err1, err2); err != nil {
		return ar.failTask(t.Name, driverFailure("failed to create log files: "+err.Error()))
	}
	defer stdout.Close()
	defer stderr.Close()
	attempts, delay, interval := ar.restartPolicy(t)
	for {
		cmd := exec.Command(bin, args...)
		cmd.Args[0] = command
		cmd.Dir, cmd.Stdout, cmd.Stderr = taskDir, stdout, stderr
		cmd.Env = envList(env)
		// Own process group, so the whole tree can be signalled and nothing
		// is orphaned when the task is killed.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			return ar.failTask(t.Name, driverFailure("failed to launch command with executor: rpc error: code = Unknown desc = "+err.Error()))
		}
		code, sig, killed := ar.waitTask(tr, cmd)
		failed := !killed && code != 0
		restart := failed && attempts > 0
		var restarts uint64
		ar.updateTask(t.Name, func(ts *api.TaskState) {
			msg := fmt.Sprintf("Exit Code: %d", code)
			if sig != 0 {
				msg += fmt.Sprintf(", Signal: %d", sig)
			}
			e := event("Terminated", msg)
			e.ExitCode, e.Signal = code, sig
			e.Details["exit_code"], e.Details["signal"], e.Details["oom_killed"] = strconv.Itoa(code), strconv.Itoa(sig), "false"
			ts.Events = append(ts.Events, e)
			restart = restart && ts.Restarts < uint64(attempts)
			switch {
			case killed:
				ts.Events = append(ts.Events, event("Killed", "Task successfully killed"))
			case restart:
				// Within the restart policy: Nomad's "Restarting" event, the
				// task pending until the delay has passed.
				r := event("Restarting", fmt.Sprintf("Task restarting in %v", delay))
				r.RestartReason, r.StartDelay = "Restart within policy", int64(delay)
				r.Details["restart_reason"], r.Details["start_delay"] = r.RestartReason, strconv.FormatInt(int64(delay), 10)
				ts.Events = append(ts.Events, r)
				ts.Restarts++
				ts.LastRestart = time.Now().UTC()
				ts.State = "pending"
				restarts = ts.Restarts
				return
			case failed:
				nr := notRestartingEvent()
				if attempts > 0 {
					why := fmt.Sprintf("Exceeded allowed attempts %d in interval %v and mode is \"fail\"", attempts, interval)
					nr.DisplayMessage, nr.RestartReason, nr.Details["restart_reason"] = why, why, why
				}
				ts.Events = append(ts.Events, nr)
				ts.Failed = true
			}
			ts.State, ts.FinishedAt = "dead", time.Now().UTC()
		})
		if !restart {
			return failed
		}
		logf("alloc %s task %s restarting (%d/%d) in %v", ar.id[:8], t.Name, restarts, attempts, delay)
		timer := time.NewTimer(delay)
		select {
		case <-timer.C:
		case k := <-tr.kill:
			timer.Stop()
			ar.updateTask(t.Name, func(ts *api.TaskState) {
				if k.sibling != "" {
					ts.Events = append(ts.Events, siblingEvent(k.sibling))
				}
				ts.Events = append(ts.Events, killingEvent(killTimeout(t)), event("Killed", "Task successfully killed"))
				ts.State, ts.FinishedAt = "dead", time.Now().UTC()
			})
			return false
		}
	}
}

// killedBeforeStart records a task killed before it ever ran: Nomad's
// Killing event without Killed, dead, not failed.
func (ar *allocRunner) killedBeforeStart(t *api.Task, k killReq) {
	ar.updateTask(t.Name, func(ts *api.TaskState) {
		if k.sibling != "" {
			ts.Events = append(ts.Events, siblingEvent(k.sibling))
		}
		ts.Events = append(ts.Events, killingEvent(killTimeout(t)))
		ts.State, ts.FinishedAt = "dead", time.Now().UTC()
	})
}

// awaitTemplates renders the task's templates. While a variable they read
// does not exist the task stays pending with a Template event naming it, as
// consul-template blocks in Nomad (scenario missing-variable); every change
// of the state retries, until the variable appears or the task is killed.
func (ar *allocRunner) awaitTemplates(tr *taskRunner, taskDir string, env map[string]string) (map[string]string, *killReq, error) {
	reported := ""
	for {
		changed := ar.s.st.watch()
		out, err := ar.renderTemplates(tr.task, taskDir, env)
		var missing *missingVarError
		if !errors.As(err, &missing) {
			return out, nil, err
		}
		if msg := missing.Error(); msg != reported {
			reported = msg
			ar.updateTask(tr.task.Name, func(ts *api.TaskState) { ts.Events = append(ts.Events, event("Template", msg)) })
		}
		select {
		case <-changed:
		case k := <-tr.kill:
			return nil, &k, nil
		}
	}
}

func secretsMB(t *api.Task) int {
	if t.Resources == nil {
		return 0
	}
	return deref(t.Resources.SecretsMB)
}

// restartPolicy: the task's (else the group's) policy. Mode "delay" is
// treated like "fail" once the attempts are used (see README).
func (ar *allocRunner) restartPolicy(t *api.Task) (attempts int, delay, interval time.Duration) {
	rp := t.RestartPolicy
	if rp == nil {
		rp = ar.tg.RestartPolicy
	}
	if rp == nil {
		return 0, 0, 0
	}
	return deref(rp.Attempts), deref(rp.Delay), deref(rp.Interval)
}

// waitTask waits for the process, or kills its process group when asked:
// the kill signal, then SIGKILL after KillTimeout. Leftovers of the group are
// killed either way.
func (ar *allocRunner) waitTask(tr *taskRunner, cmd *exec.Cmd) (code, sig int, killed bool) {
	t := tr.task
	pid := cmd.Process.Pid
	pidKey := ar.id + "/" + t.Name
	ar.updateTask(t.Name, func(ts *api.TaskState) {
		ts.Events = append(ts.Events, event("Started", "Task started by client"))
		ts.State = "running"
		if ts.StartedAt.IsZero() || ts.Restarts > 0 {
			ts.StartedAt = time.Now().UTC()
		}
		ar.s.st.Pids[pidKey] = pid
	})
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case k := <-tr.kill:
		killed = true
		kt := killTimeout(t)
		ar.updateTask(t.Name, func(ts *api.TaskState) {
			if k.sibling != "" {
				ts.Events = append(ts.Events, siblingEvent(k.sibling))
			}
			ts.Events = append(ts.Events, killingEvent(kt))
		})
		_ = syscall.Kill(-pid, killSignal(t))
		timer := time.NewTimer(kt)
		select {
		case <-done:
		case <-timer.C:
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			<-done
		}
		timer.Stop()
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	ar.update(func(*api.Allocation) { delete(ar.s.st.Pids, pidKey) })
	code, sig = exitStatus(cmd.ProcessState)
	return code, sig, killed
}

func driverFailure(msg string) *api.TaskEvent {
	e := event("Driver Failure", msg)
	e.DriverError, e.Details["driver_error"] = msg, msg
	return e
}

// lookBinary resolves the command as Nomad's executor does: a path with a
// slash as given (relative to the task dir), otherwise the task dir, then PATH.
func lookBinary(command, taskDir, pathEnv string) (string, error) {
	notFound := fmt.Errorf("failed to launch command with executor: rpc error: code = Unknown desc = binary %q could not be found", command)
	if command == "" {
		return "", fmt.Errorf("failed to launch command with executor: rpc error: code = Unknown desc = missing command")
	}
	isExec := func(p string) bool {
		st, err := os.Stat(p)
		return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
	}
	if strings.Contains(command, "/") {
		p := command
		if !filepath.IsAbs(p) {
			p = filepath.Join(taskDir, p)
		}
		if isExec(p) {
			return p, nil
		}
		return "", notFound
	}
	if p := filepath.Join(taskDir, command); isExec(p) {
		return p, nil
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		if p := filepath.Join(dir, command); dir != "" && isExec(p) {
			return p, nil
		}
	}
	return "", notFound
}

// exitStatus mirrors Nomad's executor: a signal death is 128+signal.
func exitStatus(ps *os.ProcessState) (code, sig int) {
	if ps == nil {
		return -1, 0
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), int(ws.Signal())
	}
	return ps.ExitCode(), 0
}

// update applies fn to the allocation under the lock, moves its index and
// derives its client status from its tasks. Returns nil if the alloc is gone
// (purged).
func (ar *allocRunner) update(fn func(a *api.Allocation)) *api.Allocation {
	s := ar.s
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	a := s.st.Allocs[ar.id]
	if a == nil {
		return nil
	}
	if fn == nil {
		return a
	}
	fn(a)
	a.ModifyIndex, a.ModifyTime = s.st.bump(), now()
	wasTerminal := clientTerminal(a)
	a.ClientStatus, a.ClientDescription = deriveClientStatus(a)
	if !wasTerminal && clientTerminal(a) {
		logf("alloc %s %s", ar.id[:8], a.ClientStatus)
	}
	s.updateJobStatus(a.JobID)
	return a
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
