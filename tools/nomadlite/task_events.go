package main

import (
	"fmt"
	"time"

	"github.com/hashicorp/nomad/api"
)

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

func driverFailure(msg string) *api.TaskEvent {
	e := event("Driver Failure", msg)
	e.DriverError, e.Details["driver_error"] = msg, msg
	return e
}
