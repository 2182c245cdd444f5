package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

// runTask runs one task to its end through its driver and reports whether it
// failed: task dir, environment and templates first, then the driver's
// prepare step, then one start per run the restart policy allows.
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
	drv, ok := ar.s.drivers[t.Driver]
	if !ok {
		// Only a state saved by an agent with other drivers gets here: the
		// scheduler places no task whose driver is missing.
		return ar.failTask(t.Name, driverFailure(fmt.Sprintf("driver %q is not available", t.Driver)))
	}
	env := ar.taskEnv(t, taskDir, drv.Capabilities())
	stopAPI := ar.taskAPI(t, taskDir, env)
	defer stopAPI()
	if len(t.Artifacts) > 0 {
		if killed, failed := ar.artifacts(tr, env); killed != nil {
			ar.killedBeforeStart(t, *killed)
			return false
		} else if failed {
			return true
		}
	}
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
	cpu, mem := taskResources(t)
	cfg := &TaskConfig{AllocID: ar.id, Name: t.Name, NodeID: ar.node.node.ID, NodeName: ar.node.node.Name, JobID: deref(ar.job.ID), JobName: deref(ar.job.Name), Group: deref(ar.tg.Name),
		Config: ar.interpolateConfig(t.Config, env, t), AllocDir: ar.dir, TaskDir: taskDir, Env: env, User: t.User,
		CPU: cpu, MemoryMB: mem, Mounts: ar.volumeMounts(t), SecretsNoexec: ar.s.secrets.enforced(),
		Event: func(msg string, details map[string]string) {
			ar.updateTask(t.Name, func(ts *api.TaskState) {
				e := event("Driver", msg)
				e.DriverMessage = msg
				for k, v := range details {
					e.Details[k] = v
				}
				ts.Events = append(ts.Events, e)
			})
		}}
	if t.Resources != nil {
		cfg.MemoryMaxMB = deref(t.Resources.MemoryMaxMB)
	}
	task, killed, err := ar.prepare(tr, drv, cfg)
	if killed != nil {
		ar.killedBeforeStart(t, *killed)
		return false
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
	outPath, errPath := filepath.Join(logs, t.Name+".stdout.0"), filepath.Join(logs, t.Name+".stderr.0")
	if t.LogConfig != nil && deref(t.LogConfig.Disabled) {
		// As Nomad's logmon hook: no log files, the task's output goes to /dev/null.
		outPath, errPath = os.DevNull, os.DevNull
	}
	stdout, err1 := os.OpenFile(outPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o666)
	stderr, err2 := os.OpenFile(errPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o666)
	if err := errors.Join(err1, err2); err != nil {
		return ar.failTask(t.Name, driverFailure("failed to create log files: "+err.Error()))
	}
	defer stdout.Close()
	defer stderr.Close()
	attempts, delay, interval := ar.restartPolicy(t)
	for {
		h, err := task.Start(stdout, stderr)
		if err != nil {
			return ar.failTask(t.Name, driverFailure(err.Error()))
		}
		res, killed := ar.waitTask(tr, h)
		restart, restarts, failed := ar.recordExit(t, res, killed, attempts, delay, interval)
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

// artifacts fetches the task's artifacts, as Nomad's artifact hook does after
// the task dir and before templates: a "Downloading Artifacts" event, then
// on failure "Failed Artifact Download" with Nomad's words. A failure goes
// through the restart policy as Nomad's recoverable prestart errors do
// (Restarting, then another try after the delay) until the attempts are
// used: Not Restarting, the task failed, never started. A kill meanwhile
// ends the download.
func (ar *allocRunner) artifacts(tr *taskRunner, env map[string]string) (*killReq, bool) {
	t := tr.task
	// The destination is relative to the task dir, so the directories'
	// variables are too.
	destEnv := make(map[string]string, len(env)+3)
	for k, v := range env {
		destEnv[k] = v
	}
	destEnv["NOMAD_TASK_DIR"], destEnv["NOMAD_ALLOC_DIR"], destEnv["NOMAD_SECRETS_DIR"] = "local", "../alloc", "secrets"
	attempts, delay, interval := ar.restartPolicy(t)
	for {
		ar.updateTask(t.Name, func(ts *api.TaskState) {
			ts.Events = append(ts.Events, event("Downloading Artifacts", "Client is downloading artifacts"))
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- ar.fetchArtifacts(ctx, t, env, destEnv) }()
		var err error
		select {
		case err = <-done:
			cancel()
		case k := <-tr.kill:
			cancel()
			<-done
			return &k, false
		}
		if err == nil {
			return nil, false
		}
		msg := err.Error()
		logf("alloc %s task %s: %s", ar.id[:8], t.Name, msg)
		var ae *artifactError
		recoverable := errors.As(err, &ae) && ae.recoverable
		retry := false
		ar.updateTask(t.Name, func(ts *api.TaskState) {
			e := event("Failed Artifact Download", msg)
			e.DownloadError, e.Details["download_error"] = msg, msg
			ts.Events = append(ts.Events, e)
			if recoverable && ts.Restarts < uint64(attempts) {
				ts.Events = append(ts.Events, restartingEvent(delay))
				ts.Restarts++
				ts.LastRestart = time.Now().UTC()
				retry = true
				return
			}
			ts.Events = append(ts.Events, notRestartingAfter(attempts, interval, recoverable))
			ts.State, ts.Failed, ts.FinishedAt = "dead", true, time.Now().UTC()
		})
		if !retry {
			return nil, true
		}
		timer := time.NewTimer(delay)
		select {
		case <-timer.C:
		case k := <-tr.kill:
			timer.Stop()
			return &k, false
		}
	}
}

// prepare runs the driver's Prepare (an image pull can take minutes), ending
// it when the task is killed meanwhile.
func (ar *allocRunner) prepare(tr *taskRunner, drv Driver, cfg *TaskConfig) (PreparedTask, *killReq, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type prepared struct {
		task PreparedTask
		err  error
	}
	done := make(chan prepared, 1)
	go func() {
		task, err := drv.Prepare(ctx, cfg)
		done <- prepared{task, err}
	}()
	select {
	case p := <-done:
		return p.task, nil, p.err
	case k := <-tr.kill:
		cancel()
		<-done
		return nil, &k, nil
	}
}

// volumeMounts resolves the task's volume_mounts to the host volumes of its
// group, as Nomad's volume hook does; validation refuses a mount of a volume
// the group lacks, and the scheduler a host volume the node lacks.
func (ar *allocRunner) volumeMounts(t *api.Task) []Mount {
	var out []Mount
	for _, vm := range t.VolumeMounts {
		req := ar.tg.Volumes[deref(vm.Volume)]
		if req == nil {
			continue
		}
		out = append(out, Mount{HostPath: ar.node.hostVolumes[req.Source], TaskPath: deref(vm.Destination),
			ReadOnly: req.ReadOnly || deref(vm.ReadOnly), PropagationMode: deref(vm.PropagationMode)})
	}
	return out
}

// recordExit records how a run of the task ended (Terminated, then Killed,
// Restarting or Not Restarting) and decides whether the restart policy
// allows another run.
func (ar *allocRunner) recordExit(t *api.Task, res ExitResult, killed bool, attempts int, delay, interval time.Duration) (restart bool, restarts uint64, failed bool) {
	code, sig := res.Code, res.Signal
	failed = !killed && (code != 0 || res.Err != "")
	restart = failed && attempts > 0
	ar.updateTask(t.Name, func(ts *api.TaskState) {
		msg := fmt.Sprintf("Exit Code: %d", code)
		if sig != 0 {
			msg += fmt.Sprintf(", Signal: %d", sig)
		}
		if res.Err != "" {
			msg += fmt.Sprintf(", Exit Message: %q", res.Err)
		}
		e := event("Terminated", msg)
		e.ExitCode, e.Signal, e.Message = code, sig, res.Err
		e.Details["exit_code"], e.Details["signal"], e.Details["oom_killed"] = strconv.Itoa(code), strconv.Itoa(sig), strconv.FormatBool(res.OOMKilled)
		if res.Err != "" {
			e.Details["exit_message"] = res.Err
		}
		ts.Events = append(ts.Events, e)
		restart = restart && ts.Restarts < uint64(attempts)
		switch {
		case killed:
			ts.Events = append(ts.Events, event("Killed", "Task successfully killed"))
		case restart:
			// Within the restart policy: Nomad's "Restarting" event, the
			// task pending until the delay has passed.
			ts.Events = append(ts.Events, restartingEvent(delay))
			ts.Restarts++
			ts.LastRestart = time.Now().UTC()
			ts.State = "pending"
			restarts = ts.Restarts
			return
		case failed:
			ts.Events = append(ts.Events, notRestartingAfter(attempts, interval, true))
			ts.Failed = true
		}
		ts.State, ts.FinishedAt = "dead", time.Now().UTC()
	})
	return restart, restarts, failed
}

// waitTask waits for a run of the task to end, or stops it when asked (the
// kill signal, then SIGKILL after KillTimeout, as the driver's Stop does).
func (ar *allocRunner) waitTask(tr *taskRunner, h TaskHandle) (res ExitResult, killed bool) {
	t := tr.task
	pidKey := ar.id + "/" + t.Name
	ar.updateTask(t.Name, func(ts *api.TaskState) {
		ts.Events = append(ts.Events, event("Started", "Task started by client"))
		ts.State = "running"
		if ts.StartedAt.IsZero() || ts.Restarts > 0 {
			ts.StartedAt = time.Now().UTC()
		}
		if pid := h.Pid(); pid > 0 {
			ar.s.st.Pids[pidKey] = pid
		}
	})
	select {
	case res = <-h.Wait():
	case k := <-tr.kill:
		killed = true
		kt := killTimeout(t)
		ar.updateTask(t.Name, func(ts *api.TaskState) {
			if k.sibling != "" {
				ts.Events = append(ts.Events, siblingEvent(k.sibling))
			}
			ts.Events = append(ts.Events, killingEvent(kt))
		})
		h.Stop(killSignal(t), kt)
		res = <-h.Wait()
	}
	ar.update(func(*api.Allocation) { delete(ar.s.st.Pids, pidKey) })
	return res, killed
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

// failTask ends a task that could not be started (driver or template
// failure): the failure event, Not Restarting, Failed, no StartedAt.
func (ar *allocRunner) failTask(name string, ev *api.TaskEvent) bool {
	ar.updateTask(name, func(ts *api.TaskState) {
		ts.Events = append(ts.Events, ev, notRestartingEvent())
		ts.State, ts.Failed, ts.FinishedAt = "dead", true, time.Now().UTC()
	})
	return true
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
