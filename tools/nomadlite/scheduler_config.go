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
	c := lockedValue(s.st, s.st.schedulerConfig)
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
	resp, err := s.st.setSchedulerConfig(c, r.URL.Query().Get("cas"))
	writeAnswer(w, resp, err)
}

// schedulerConfigWrite is Nomad's answer to a configuration write.
type schedulerConfigWrite struct {
	Updated bool
	Index   uint64
}

// setSchedulerConfig replaces the whole configuration; with a cas (a
// ModifyIndex) only if nobody wrote it since (Updated false otherwise).
func (s *State) setSchedulerConfig(c api.SchedulerConfiguration, cas string) (schedulerConfigWrite, *apiError) {
	switch c.SchedulerAlgorithm {
	case api.SchedulerAlgorithmBinpack, api.SchedulerAlgorithmSpread:
	default:
		return schedulerConfigWrite{}, &apiError{400, fmt.Sprintf("invalid scheduler algorithm: %s", c.SchedulerAlgorithm)}
	}
	var want uint64
	if cas != "" {
		var err error
		if want, err = strconv.ParseUint(cas, 10, 64); err != nil {
			return schedulerConfigWrite{}, &apiError{400, "Error parsing cas value: " + err.Error()}
		}
	}
	var out schedulerConfigWrite
	s.locked(func() {
		cur := s.schedulerConfig()
		if out.Updated = cas == "" || want == cur.ModifyIndex; out.Updated {
			c.CreateIndex, c.ModifyIndex = cur.CreateIndex, s.bump()
			s.SchedulerConfig = &c
		}
		out.Index = s.Index
	})
	if out.Updated {
		logf("scheduler configuration: algorithm %s", c.SchedulerAlgorithm)
	}
	return out, nil
}
