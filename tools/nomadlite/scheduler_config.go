package main

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/hashicorp/nomad/api"
)

// schedulerConfig is the operator's scheduler configuration, Nomad's
// defaults until one is written. Call with the lock held.
func (s *State) schedulerConfig() api.SchedulerConfiguration {
	if s.SchedulerConfig != nil {
		return *s.SchedulerConfig
	}
	return api.SchedulerConfiguration{SchedulerAlgorithm: api.SchedulerAlgorithmBinpack,
		PreemptionConfig: api.PreemptionConfig{SystemSchedulerEnabled: true}, CreateIndex: 1, ModifyIndex: 1}
}

// schedulerConfigAnswer is Nomad's wire form of the read: the api struct's
// client-side QueryMeta replaced by what the server sends.
type schedulerConfigAnswer struct {
	SchedulerConfig *api.SchedulerConfiguration
	Index           uint64
	KnownLeader     bool
	LastContact     int64
	NextToken       string
}

func (s *Server) getSchedulerConfig(w http.ResponseWriter, r *http.Request) {
	s.st.mu.Lock()
	c := s.st.schedulerConfig()
	s.st.mu.Unlock()
	s.setQueryHeaders(w, c.ModifyIndex)
	writeJSON(w, 200, schedulerConfigAnswer{SchedulerConfig: &c, Index: c.ModifyIndex, KnownLeader: true})
}

// putSchedulerConfig is `nomad operator scheduler set-config`: the whole
// configuration replaced, or with ?cas=<ModifyIndex> only if nobody wrote it
// since (Updated false otherwise).
func (s *Server) putSchedulerConfig(w http.ResponseWriter, r *http.Request) {
	var c api.SchedulerConfiguration
	if err := decodeBody(r, &c); err != nil {
		httpError(w, 400, err.Error())
		return
	}
	switch c.SchedulerAlgorithm {
	case api.SchedulerAlgorithmBinpack, api.SchedulerAlgorithmSpread:
	default:
		httpError(w, 400, fmt.Sprintf("invalid scheduler algorithm: %s", c.SchedulerAlgorithm))
		return
	}
	st := s.st
	st.mu.Lock()
	cur := st.schedulerConfig()
	updated := true
	if cas := r.URL.Query().Get("cas"); cas != "" {
		want, err := strconv.ParseUint(cas, 10, 64)
		if err != nil {
			st.mu.Unlock()
			httpError(w, 400, "Error parsing cas value: "+err.Error())
			return
		}
		updated = want == cur.ModifyIndex
	}
	if updated {
		idx := st.bump()
		c.CreateIndex, c.ModifyIndex = cur.CreateIndex, idx
		st.SchedulerConfig = &c
	}
	idx := st.Index
	st.mu.Unlock()
	if updated {
		logf("scheduler configuration: algorithm %s", c.SchedulerAlgorithm)
	}
	writeJSON(w, 200, struct {
		Updated bool
		Index   uint64
	}{updated, idx})
}
