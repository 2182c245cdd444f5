package main

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/nomad/api"
)

// State is everything nomadlite knows. One mutex guards it all: the agent is
// small, and a single lock keeps jobs, allocations and evaluations consistent
// with the index that blocking queries watch.
type State struct {
	mu sync.Mutex

	Index  uint64
	NodeID string
	// NodeIDs of the nodes of a -nodes N>1 agent, by name.
	NodeIDs map[string]string `json:",omitempty"`
	Jobs    map[string]*api.Job
	Allocs  map[string]*api.Allocation
	Evals   map[string]*api.Evaluation
	Vars    map[string]*api.Variable
	// AllocStates are the servers' changes of an allocation's client status
	// (Nomad's Allocation.AllocStates, which api.Allocation lacks), by ID.
	AllocStates map[string][]allocState `json:",omitempty"`
	// SchedulerConfig is the operator's; nil: Nomad's defaults.
	SchedulerConfig *api.SchedulerConfiguration `json:",omitempty"`
	// Pids of running tasks ("allocID/task" -> pid, which is also the process
	// group id) so that a restarted agent can kill what it lost track of.
	Pids map[string]int

	changed chan struct{} // closed and replaced whenever Index moves
	dirty   bool
	path    string
	saveMu  sync.Mutex
}

func newState(dataDir string) *State {
	return &State{
		Jobs:        map[string]*api.Job{},
		Allocs:      map[string]*api.Allocation{},
		Evals:       map[string]*api.Evaluation{},
		Vars:        map[string]*api.Variable{},
		Pids:        map[string]int{},
		AllocStates: map[string][]allocState{},
		changed:     make(chan struct{}),
		path:        filepath.Join(dataDir, "state.json"),
	}
}

// load reads the snapshot if there is one.
func (s *State) load() error {
	b, err := os.ReadFile(s.path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, s); err != nil {
		return fmt.Errorf("state %s: %w", s.path, err)
	}
	if s.AllocStates == nil {
		s.AllocStates = map[string][]allocState{}
	}
	for _, m := range []any{&s.Jobs, &s.Allocs, &s.Evals, &s.Vars, &s.Pids} {
		switch p := m.(type) {
		case *map[string]*api.Job:
			if *p == nil {
				*p = map[string]*api.Job{}
			}
		case *map[string]*api.Allocation:
			if *p == nil {
				*p = map[string]*api.Allocation{}
			}
		case *map[string]*api.Evaluation:
			if *p == nil {
				*p = map[string]*api.Evaluation{}
			}
		case *map[string]*api.Variable:
			if *p == nil {
				*p = map[string]*api.Variable{}
			}
		case *map[string]int:
			if *p == nil {
				*p = map[string]int{}
			}
		}
	}
	return nil
}

// locked runs fn with the state lock held, the only way to it: whatever
// reads or changes the state does it inside such an fn, and so do the
// helpers whose comments say "call with the lock held". The unlock is
// deferred because net/http recovers a panicking handler, and the agent
// must not stay locked after one.
func (s *State) locked(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn()
}

// lockedValue is locked for a critical section that yields a value (Go
// methods cannot be generic).
func lockedValue[T any](s *State, fn func() T) (v T) {
	s.locked(func() { v = fn() })
	return v
}

// read is locked for a blocking query. It also returns the channel that the
// next change closes, taken in the same critical section, so that a change
// between the read and the wait is not missed.
func (s *State) read(fn func()) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn()
	return s.changed
}

// bump moves the index, wakes blocking queries and marks the state for
// saving. Call with the lock held; returns the new index.
func (s *State) bump() uint64 {
	s.Index++
	close(s.changed)
	s.changed = make(chan struct{})
	s.dirty = true
	return s.Index
}

// watch is closed at the next change of the state.
func (s *State) watch() <-chan struct{} { return s.read(func() {}) }

// save writes the snapshot atomically (temp file + rename) if anything changed.
func (s *State) save() {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	var b []byte
	var err error
	dirty := false
	s.locked(func() {
		if dirty = s.dirty; dirty {
			b, err = json.Marshal(s)
			s.dirty = false
		}
	})
	if !dirty {
		return
	}
	if err != nil {
		log.Printf("state: marshal: %v", err)
		return
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		log.Printf("state: write: %v", err)
		return
	}
	if err := os.Rename(tmp, s.path); err != nil {
		log.Printf("state: rename: %v", err)
	}
}

// saver persists the state a few times a second while it changes, and once more at the stop.
func (s *State) saver(stop <-chan struct{}) {
	every(stop, 200*time.Millisecond, s.save)
	s.save()
}

// every runs fn each period until stop is closed.
func every(stop <-chan struct{}, period time.Duration, fn func()) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			fn()
		}
	}
}

// nodeID is the node's persisted ID, made up the first time. The single
// node of -nodes 1 keeps NodeID, where earlier versions kept it.
func (s *State) nodeID(name string, single bool) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if single {
		if s.NodeID == "" {
			s.NodeID = newUUID()
			s.dirty = true
		}
		return s.NodeID
	}
	if s.NodeIDs == nil {
		s.NodeIDs = map[string]string{}
	}
	if s.NodeIDs[name] == "" {
		s.NodeIDs[name] = newUUID()
		s.dirty = true
	}
	return s.NodeIDs[name]
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// deepCopy copies an api value through JSON so that snapshots (an alloc's Job)
// never alias live state.
func deepCopy[T any](v *T) *T {
	if v == nil {
		return nil
	}
	b, _ := json.Marshal(v)
	var out T
	_ = json.Unmarshal(b, &out)
	return &out
}

func now() int64 { return time.Now().UnixNano() }
