package main

import (
	"io"
	"syscall"
	"time"
)

// Driver is the part of a Nomad task driver plugin (plugins/drivers) that
// the task runner uses. The runner owns the lifecycle — events, restarts,
// kills on request — and a driver only runs the task; drivers lists them by
// the name a task's Driver field gives.
type Driver interface {
	// Prepare readies a task for its first start (raw_exec resolves the
	// command), so that one that can never run is a Driver Failure before
	// anything starts; every run, restarts included, starts what it returns.
	Prepare(cfg *TaskConfig) (PreparedTask, error)
}

// PreparedTask starts one run of a task, its output going to the task's logs.
type PreparedTask interface {
	Start(stdout, stderr io.Writer) (TaskHandle, error)
}

// TaskHandle is one run of a task, as Nomad's StartTask hands it back.
type TaskHandle interface {
	// Pid is saved with the state, for a restarted agent to kill what it
	// lost track of.
	Pid() int
	// Wait delivers the run's exit, once, as Nomad's WaitTask does.
	Wait() <-chan ExitResult
	// Stop is Nomad's StopTask: sig, then SIGKILL once timeout has passed;
	// it returns when the run has ended.
	Stop(sig syscall.Signal, timeout time.Duration)
}

// ExitResult is how a run ended; a signal death has Code 128+Signal.
type ExitResult struct {
	Code, Signal int
}

// TaskConfig is what the task runner hands a driver: the task's driver
// config with ${…} interpolated, its directories and its environment.
type TaskConfig struct {
	Config   map[string]any
	AllocDir string
	TaskDir  string
	Env      map[string]string
	// SecretsNoexec: the kernel refuses to execute from secrets/ (see
	// secretsMode); where it does not, a driver refuses a command there.
	SecretsNoexec bool
}

// drivers are the task drivers this node has; the scheduler reports any
// other as "missing drivers".
var drivers = map[string]Driver{"raw_exec": rawExec{}}
