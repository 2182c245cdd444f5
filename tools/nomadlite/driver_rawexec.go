package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// rawExec is Nomad's raw_exec driver: the command runs as the agent's user,
// in the task dir, with the task's environment and no isolation.
type rawExec struct{}

func (rawExec) Capabilities() Capabilities { return Capabilities{} }

func (rawExec) Prepare(_ context.Context, cfg *TaskConfig) (PreparedTask, error) {
	command, _ := cfg.Config["command"].(string)
	var args []string
	if raw, ok := cfg.Config["args"].([]any); ok {
		for _, a := range raw {
			args = append(args, fmt.Sprint(a))
		}
	}
	bin, err := lookBinary(command, cfg.TaskDir, cfg.Env["PATH"])
	if err == nil && !cfg.SecretsNoexec && inSecrets(cfg.AllocDir, bin) {
		// What a noexec mount would answer, where nomadlite could not make one.
		err = fmt.Errorf("failed to launch command with executor: rpc error: code = Unknown desc = fork/exec %s: permission denied", bin)
	}
	if err != nil {
		return nil, err
	}
	return &rawExecTask{cfg: cfg, bin: bin, command: command, args: args}, nil
}

type rawExecTask struct {
	cfg          *TaskConfig
	bin, command string
	args         []string
}

func (p *rawExecTask) Start(stdout, stderr io.Writer) (TaskHandle, error) {
	cmd := exec.Command(p.bin, p.args...)
	cmd.Args[0] = p.command
	cmd.Dir, cmd.Stdout, cmd.Stderr = p.cfg.TaskDir, stdout, stderr
	cmd.Env = envList(p.cfg.Env)
	// Own process group, so the whole tree can be signalled and nothing
	// is orphaned when the task is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("failed to launch command with executor: rpc error: code = Unknown desc = %v", err)
	}
	h := &rawExecHandle{pid: cmd.Process.Pid, exited: make(chan struct{}), result: make(chan ExitResult, 1)}
	go func() {
		_ = cmd.Wait()
		// Whatever the task left in its group ends with it.
		_ = syscall.Kill(-h.pid, syscall.SIGKILL)
		code, sig := exitStatus(cmd.ProcessState)
		close(h.exited)
		h.result <- ExitResult{Code: code, Signal: sig}
	}()
	return h, nil
}

type rawExecHandle struct {
	pid    int
	exited chan struct{}
	result chan ExitResult
}

// Pid is the task's process group, which a restarted agent kills.
func (h *rawExecHandle) Pid() int { return h.pid }

func (h *rawExecHandle) Wait() <-chan ExitResult { return h.result }

func (h *rawExecHandle) Stop(sig syscall.Signal, timeout time.Duration) {
	_ = syscall.Kill(-h.pid, sig)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-h.exited:
	case <-timer.C:
		_ = syscall.Kill(-h.pid, syscall.SIGKILL)
		<-h.exited
	}
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
