package main

import (
	"fmt"
	"strconv"
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

// notRestartingAfter is Not Restarting once a restart policy of attempts has
// been used up, or at once for an error Nomad does not retry (not
// recoverable), in the restart tracker's words.
func notRestartingAfter(attempts int, interval time.Duration, recoverable bool) *api.TaskEvent {
	nr := notRestartingEvent()
	why := ""
	switch {
	case !recoverable:
		why = "Error was unrecoverable"
	case attempts > 0:
		why = fmt.Sprintf("Exceeded allowed attempts %d in interval %v and mode is \"fail\"", attempts, interval)
	}
	if why != "" {
		nr.DisplayMessage, nr.RestartReason, nr.Details["restart_reason"] = why, why, why
	}
	return nr
}

// restartingEvent: a restart within the policy, after delay.
func restartingEvent(delay time.Duration) *api.TaskEvent {
	r := event("Restarting", fmt.Sprintf("Task restarting in %v", delay))
	r.RestartReason, r.StartDelay = "Restart within policy", int64(delay)
	r.Details["restart_reason"], r.Details["start_delay"] = r.RestartReason, strconv.FormatInt(int64(delay), 10)
	return r
}

func driverFailure(msg string) *api.TaskEvent {
	e := event("Driver Failure", msg)
	e.DriverError, e.Details["driver_error"] = msg, msg
	return e
}
