package main

import (
	"context"
	"io"
	"syscall"
	"time"
)

// Driver is the part of a Nomad task driver plugin (plugins/drivers) that
// the task runner uses. The runner owns the lifecycle — events, restarts,
// kills on request — and a driver only runs the task; a Server lists its
// drivers by the name a task's Driver field gives.
type Driver interface {
	// Capabilities tell the task runner how the task sees its directories
	// and environment.
	Capabilities() Capabilities
	// Prepare readies a task for its first start (raw_exec resolves the
	// command, docker pulls the image), so that one that can never run is a
	// Driver Failure before anything starts; every run, restarts included,
	// starts what it returns. ctx ends when the task is killed meanwhile.
	Prepare(ctx context.Context, cfg *TaskConfig) (PreparedTask, error)
}

// Capabilities is the part of Nomad's drivers.Capabilities the runner reads.
type Capabilities struct {
	// FSIsolationImage: the task runs in a root filesystem of its own, where
	// its directories are /alloc, /local and /secrets and nothing of the
	// agent's environment is inherited (Nomad's FSIsolationImage).
	FSIsolationImage bool
}

// PreparedTask starts one run of a task, its output going to the task's logs.
type PreparedTask interface {
	Start(stdout, stderr io.Writer) (TaskHandle, error)
}

// TaskHandle is one run of a task, as Nomad's StartTask hands it back.
type TaskHandle interface {
	// Pid is saved with the state, for a restarted agent to kill what it
	// lost track of: a process group leader, or 0 for none.
	Pid() int
	// Wait delivers the run's exit, once, as Nomad's WaitTask does.
	Wait() <-chan ExitResult
	// Stop is Nomad's StopTask: sig, then SIGKILL once timeout has passed;
	// it returns when the run has ended.
	Stop(sig syscall.Signal, timeout time.Duration)
}

// ExitResult is how a run ended; a signal death has Code 128+Signal. Err is
// the driver's own word on the exit (Nomad's ExitResult.Err), which the
// Terminated event carries as its exit message.
type ExitResult struct {
	Code, Signal int
	OOMKilled    bool
	Err          string
}

// TaskConfig is what the task runner hands a driver: who the task is, its
// driver config with ${…} interpolated, its directories, environment, user,
// resources and host volume mounts.
type TaskConfig struct {
	AllocID, Name, JobID, JobName, Group string
	NodeID, NodeName                     string
	Config                               map[string]any
	AllocDir                             string
	TaskDir                              string
	Env                                  map[string]string
	User                                 string
	CPU, MemoryMB, MemoryMaxMB           int
	Mounts                               []Mount
	// SecretsNoexec: the kernel refuses to execute from secrets/ (see
	// secretsMode); where it does not, a driver refuses a command there.
	SecretsNoexec bool
	// Event records a "Driver" task event (Nomad's driver TaskEvent), such as
	// "Downloading image".
	Event func(msg string, details map[string]string)
}

// Mount is a host volume a task mounts (group volume + task volume_mount),
// as Nomad's volume hook resolves it.
type Mount struct {
	HostPath, TaskPath string
	ReadOnly           bool
	PropagationMode    string
}
