package main

import (
	"fmt"

	"github.com/hashicorp/nomad/api"
)

// apiError is a refused write and the status Nomad refuses it with.
type apiError struct {
	code int
	msg  string
}

// upsertJob stores a job's new version, evaluates it and replaces what an
// older version still runs. The runners are stopped and started after the
// state is unlocked: they take the lock themselves.
func (s *Server) upsertJob(req *api.JobRegisterRequest, pathID string) (writeResponse, *apiError) {
	job := req.Job
	switch {
	case job == nil:
		return writeResponse{}, &apiError{400, "Job must be specified"}
	case job.ID == nil:
		return writeResponse{}, &apiError{400, "Job ID hasn't been provided"}
	case pathID != "" && pathID != *job.ID:
		return writeResponse{}, &apiError{400, "Job ID does not match name"}
	}
	canonicalize(job)
	if err := validateJob(job); err != nil {
		return writeResponse{}, &apiError{500, err.Error()}
	}
	if err := unimplementedErrors(job); err != nil {
		return writeResponse{}, &apiError{500, err.Error()}
	}
	id := *job.ID
	st := s.st
	var resp writeResponse
	var refused *apiError
	var toStart []*api.Allocation
	var stopping []*allocRunner
	st.locked(func() {
		existing := st.Jobs[id]
		if refused = enforceIndex(req, existing); refused != nil {
			return
		}
		idx := st.bump()
		changed := true
		if existing != nil {
			changed = specOf(existing) != specOf(job) || deref(existing.Stop) != deref(job.Stop)
			job.CreateIndex = existing.CreateIndex
			v := deref(existing.Version)
			if changed {
				v++
			}
			job.Version = new(v)
		} else {
			job.CreateIndex = new(idx)
			job.Version = new(uint64(0))
		}
		job.ModifyIndex, job.JobModifyIndex = new(idx), new(idx)
		job.SubmitTime = new(now())
		job.Status = new("pending")
		st.Jobs[id] = job

		eval := s.newEval(job, "job-register", idx)
		if changed || deref(job.Stop) {
			// A new version, or the job's stop, ends whatever of the old
			// one is still running.
			stopping = s.stopJobAllocs(id, "alloc not needed due to job update")
			s.cancelBlocked(id)
		}
		if changed && !deref(job.Stop) {
			toStart = s.schedule(job, eval, false)
		} else {
			s.finishEval(eval, nil)
		}
		s.updateJobStatus(id)
		resp = writeResponse{EvalID: eval.ID, EvalCreateIndex: eval.CreateIndex, JobModifyIndex: idx, Warnings: new(""), Index: st.Index}
	})
	if refused != nil {
		return writeResponse{}, refused
	}
	logf("job %s registered (version %d, %d alloc(s) placed, eval %s)", id, deref(job.Version), len(toStart), resp.EvalID[:8])
	s.stopRunners(stopping)
	s.startRunners(toStart)
	return resp, nil
}

// enforceIndex is the check-and-set of a register with EnforceIndex: index 0
// means "must not exist yet".
func enforceIndex(req *api.JobRegisterRequest, existing *api.Job) *apiError {
	if !req.EnforceIndex {
		return nil
	}
	var cur uint64
	if existing != nil {
		cur = deref(existing.JobModifyIndex)
	}
	switch {
	case req.JobModifyIndex == 0 && existing != nil:
		return &apiError{500, "Enforcing job modify index 0: job already exists"}
	case req.JobModifyIndex != 0 && existing == nil:
		return &apiError{500, fmt.Sprintf("Enforcing job modify index %d: job does not exist", req.JobModifyIndex)}
	case req.JobModifyIndex != 0 && cur != req.JobModifyIndex:
		return &apiError{500, fmt.Sprintf("Enforcing job modify index %d: job exists with conflicting job modify index: %d", req.JobModifyIndex, cur)}
	}
	return nil
}

// stopJob stops a job (a new, stopped version) and its allocations;
// purge also forgets the job, its allocations and its evaluations.
func (s *Server) stopJob(id string, purge bool) (writeResponse, *apiError) {
	st := s.st
	var resp writeResponse
	var stopping []*allocRunner
	found := false
	st.locked(func() {
		j := st.Jobs[id]
		if found = j != nil; !found {
			return
		}
		idx := st.bump()
		if !deref(j.Stop) {
			j.Stop = new(true)
			j.Version = new(deref(j.Version) + 1)
		}
		j.JobModifyIndex, j.ModifyIndex = new(idx), new(idx)
		eval := s.newEval(j, "job-deregister", idx)
		s.finishEval(eval, nil)
		s.cancelBlocked(id)
		stopping = s.stopJobAllocs(id, "alloc not needed due to job update")
		if purge {
			s.purgeJob(id, eval.ID)
		} else {
			s.updateJobStatus(id)
		}
		resp = writeResponse{EvalID: eval.ID, EvalCreateIndex: eval.CreateIndex, JobModifyIndex: idx,
			VolumeEvalID: new(""), VolumeEvalIndex: new(uint64(0)), Index: st.Index}
	})
	if !found {
		return writeResponse{}, &apiError{404, "job not found"}
	}
	s.stopRunners(stopping)
	logf("job %s stopped%s (%d running alloc(s) told to stop)", id, map[bool]string{true: " and purged"}[purge], len(stopping))
	return resp, nil
}

// purgeJob forgets the job, its allocations and its evaluations but keepEval
// at once; the allocation runners still stop their tasks and run poststop,
// then remove the alloc dirs because the allocs are gone from the state.
// Call with the lock held.
func (s *Server) purgeJob(id, keepEval string) {
	st := s.st
	delete(st.Jobs, id)
	for aid, a := range st.Allocs {
		if a.JobID == id {
			delete(st.Allocs, aid)
			delete(st.AllocStates, aid)
			if !clientTerminal(a) {
				continue
			}
			go s.removeAllocDir(s.allocDir(a))
		}
	}
	for eid, e := range st.Evals {
		if e.JobID == id && eid != keepEval {
			delete(st.Evals, eid)
		}
	}
	st.bump()
}

// allocStopResponse is Nomad's wire form of api.AllocStopResponse: EvalID
// plus the server's Index.
type allocStopResponse struct {
	EvalID string
	Index  uint64
}

// stopAllocation stops one allocation. Nomad would also place a replacement
// (migrate); nomadlite does not — see README.
func (s *Server) stopAllocation(id string) (allocStopResponse, *apiError) {
	st := s.st
	var resp allocStopResponse
	var ar *allocRunner
	found := false
	st.locked(func() {
		a := st.Allocs[id]
		if found = a != nil; !found {
			return
		}
		idx := st.bump()
		if a.DesiredStatus == "run" {
			a.DesiredStatus, a.DesiredDescription = "stop", "alloc was stopped by user"
			a.ModifyIndex, a.ModifyTime = idx, now()
			if !clientTerminal(a) {
				ar = s.runner(a.ID)
			}
		}
		if j := st.Jobs[a.JobID]; j != nil {
			eval := s.newEval(j, "alloc-stop", idx)
			s.finishEval(eval, nil)
			s.updateJobStatus(a.JobID)
			resp.EvalID = eval.ID
		}
		resp.Index = st.Index
	})
	if !found {
		return allocStopResponse{}, &apiError{404, "alloc not found"}
	}
	if ar != nil {
		s.stopRunners([]*allocRunner{ar})
	}
	return resp, nil
}
