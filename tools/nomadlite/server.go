package main

import (
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/nomad/api"
)

// Config is the agent's command line.
type Config struct {
	Bind        string
	DataDir     string
	HostVolumes map[string]string
	NodeMeta    map[string]string
	NodeClass   string
	GCAge       time.Duration
	// DockerEndpoint is the Docker Engine API socket (unix:///path); empty:
	// no docker driver.
	DockerEndpoint string
	// GCMaxAllocs is Nomad's client gc_max_allocs; 0: no limit.
	GCMaxAllocs int
	// Nodes is how many client nodes the agent runs (0 or 1: one, as
	// nomadlite always had).
	Nodes int
	// HeartbeatTTL is how long the servers wait for a cut-off node's
	// heartbeat before they mark it down (default 20s, as recorded).
	HeartbeatTTL time.Duration
	// RPCHoldTimeout is how long a client retries a call to the servers
	// before it fails (Nomad's rpc_hold_timeout, 5s).
	RPCHoldTimeout time.Duration
}

// Server holds the state, the node description and the running allocations.
type Server struct {
	cfg     Config
	st      *State
	nodes   []*clientNode
	secrets secretsMode
	drivers map[string]Driver
	docker  *dockerDriver // nil without -docker-endpoint

	// nodeMu guards what changes in the nodes while the agent runs (see
	// clientNode). Taken inside st.locked when both are needed.
	nodeMu         sync.Mutex
	dockerDetected bool

	runMu   sync.Mutex
	runners map[string]*allocRunner

	// shadows are the client's view of the allocations of cut-off nodes,
	// which the servers do not see until the node is healed (partition.go).
	// Guarded by the state lock (st.locked).
	shadows map[string]*api.Allocation

	// tokens are the workload identities of running tasks (taskapi.go);
	// the Task API lets any of them read anything, as Nomad without ACLs.
	tokMu  sync.Mutex
	tokens map[string]struct{}

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// NewServer loads the data dir, reports tasks the previous run lost track of,
// and starts the saver and the garbage collector.
func NewServer(cfg Config) (*Server, error) {
	if cfg.GCAge == 0 {
		cfg.GCAge = time.Hour
	}
	if cfg.HeartbeatTTL == 0 {
		cfg.HeartbeatTTL = 20 * time.Second
	}
	if cfg.RPCHoldTimeout == 0 {
		cfg.RPCHoldTimeout = 5 * time.Second
	}
	if cfg.HostVolumes == nil {
		cfg.HostVolumes = map[string]string{}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, err
	}
	for name, p := range cfg.HostVolumes {
		if st, err := os.Stat(p); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("host volume %s: %s is not a directory", name, p)
		}
	}
	s := &Server{cfg: cfg, st: newState(cfg.DataDir), runners: map[string]*allocRunner{}, shadows: map[string]*api.Allocation{}, tokens: map[string]struct{}{}, stop: make(chan struct{})}
	if err := s.st.load(); err != nil {
		return nil, err
	}
	if err := s.buildClientNodes(); err != nil {
		return nil, err
	}
	s.drivers = map[string]Driver{"raw_exec": rawExec{}}
	if cfg.DockerEndpoint != "" {
		c, err := newDockerClient(cfg.DockerEndpoint)
		if err != nil {
			return nil, err
		}
		s.docker = &dockerDriver{c: c}
		for _, n := range s.nodes {
			s.docker.nodeIDs = append(s.docker.nodeIDs, n.node.ID)
		}
		s.drivers["docker"] = s.docker
	}
	s.secrets = detectSecretsMode()
	logf("task secrets/ directories: %s", s.secrets)
	s.recoverLost()
	s.fingerprintDocker()
	s.wg.Add(4)
	go func() { defer s.wg.Done(); s.heartbeatLoop() }()
	go func() { defer s.wg.Done(); s.st.saver(s.stop) }()
	go func() { defer s.wg.Done(); s.gcLoop() }()
	go func() { defer s.wg.Done(); s.fingerprintLoop() }()
	return s, nil
}

// Close stops the background loops, saves the state and unmounts the
// secrets/ of finished tasks. Running tasks are left running, with their
// secrets/, as a Nomad client leaves them when it stops.
func (s *Server) Close() {
	s.stopOnce.Do(func() { close(s.stop) })
	s.wg.Wait()
	s.st.save()
	if n := s.releaseFinishedSecrets(); n > 0 {
		logf("released the secrets/ of %d finished task(s)", n)
	}
}

// Handler routes the served part of the API; everything else is a 404 that
// names the path, never a fake success.
func (s *Server) Handler() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /v1/jobs", s.listJobs)
	m.HandleFunc("PUT /v1/jobs", s.registerJob)
	m.HandleFunc("POST /v1/jobs", s.registerJob)
	m.HandleFunc("GET /v1/job/{id}", s.getJob)
	m.HandleFunc("PUT /v1/job/{id}", s.registerJob)
	m.HandleFunc("POST /v1/job/{id}", s.registerJob)
	m.HandleFunc("DELETE /v1/job/{id}", s.deregisterJob)
	m.HandleFunc("GET /v1/job/{id}/allocations", s.jobAllocs)
	m.HandleFunc("GET /v1/job/{id}/evaluations", s.jobEvals)
	m.HandleFunc("GET /v1/job/{id}/summary", s.jobSummary)
	m.HandleFunc("PUT /v1/validate/job", s.validateJob)
	m.HandleFunc("POST /v1/validate/job", s.validateJob)
	m.HandleFunc("GET /v1/allocations", s.listAllocs)
	m.HandleFunc("GET /v1/allocation/{id}", s.getAlloc)
	m.HandleFunc("PUT /v1/allocation/{id}/stop", s.stopAlloc)
	m.HandleFunc("POST /v1/allocation/{id}/stop", s.stopAlloc)
	m.HandleFunc("GET /v1/evaluations", s.listEvals)
	m.HandleFunc("GET /v1/evaluation/{id}", s.getEval)
	m.HandleFunc("GET /v1/evaluation/{id}/allocations", s.evalAllocs)
	m.HandleFunc("GET /v1/client/fs/logs/{id}", s.fsLogs)
	m.HandleFunc("GET /v1/client/fs/cat/{id}", s.fsCat)
	m.HandleFunc("GET /v1/client/fs/ls/{id}", s.fsList)
	m.HandleFunc("GET /v1/client/fs/stat/{id}", s.fsStat)
	m.HandleFunc("GET /v1/var/{path...}", s.getVar)
	m.HandleFunc("PUT /v1/var/{path...}", s.putVar)
	m.HandleFunc("POST /v1/var/{path...}", s.putVar)
	m.HandleFunc("DELETE /v1/var/{path...}", s.deleteVar)
	m.HandleFunc("GET /v1/vars", s.listVars)
	m.HandleFunc("GET /v1/status/leader", s.leader)
	m.HandleFunc("GET /v1/status/peers", s.peers)
	m.HandleFunc("GET /v1/agent/self", s.agentSelf)
	m.HandleFunc("GET /v1/nodes", s.listNodes)
	m.HandleFunc("GET /v1/node/{id}", s.getNode)
	m.HandleFunc("GET /v1/node/{id}/allocations", s.nodeAllocs)
	m.HandleFunc("/v1/system/gc", s.systemGC)
	m.HandleFunc("POST /v1/nomadlite/node/{node}/partition", s.nodeLinkEndpoint(true))
	m.HandleFunc("POST /v1/nomadlite/node/{node}/heal", s.nodeLinkEndpoint(false))
	m.HandleFunc("GET /v1/operator/scheduler/configuration", s.getSchedulerConfig)
	m.HandleFunc("PUT /v1/operator/scheduler/configuration", s.putSchedulerConfig)
	m.HandleFunc("POST /v1/operator/scheduler/configuration", s.putSchedulerConfig)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpError(w, http.StatusNotFound, fmt.Sprintf("nomadlite does not serve %s %s", r.Method, r.URL.Path))
	})
	return s.namespaceFilter(m)
}

// namespaceFilter: only the default namespace exists. Other namespaces answer
// as Nomad answers for an empty namespace (nothing found).
func (s *Server) namespaceFilter(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ns := r.URL.Query().Get("namespace"); ns != "" && ns != "default" && ns != "*" {
			if r.Method == http.MethodGet && (r.URL.Path == "/v1/jobs" || r.URL.Path == "/v1/allocations" || r.URL.Path == "/v1/evaluations" || r.URL.Path == "/v1/vars") {
				s.setQueryHeaders(w, s.currentIndex())
				writeJSON(w, http.StatusOK, []any{})
				return
			}
			httpError(w, http.StatusNotFound, fmt.Sprintf("namespace %q not found", ns))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) currentIndex() uint64 {
	return lockedValue(s.st, func() uint64 { return s.st.Index })
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		httpError(w, 500, err.Error())
		return
	}
	writeRaw(w, code, b)
}

func writeRaw(w http.ResponseWriter, code int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// writeAnswer answers a write: v, or the refusal as Nomad's HTTP layer
// sends one.
func writeAnswer(w http.ResponseWriter, v any, err *apiError) {
	if err != nil {
		httpError(w, err.code, err.msg)
		return
	}
	writeJSON(w, 200, v)
}

// httpError answers like Nomad's HTTP layer: the error text as plain body.
func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(msg))
}

func (s *Server) setQueryHeaders(w http.ResponseWriter, idx uint64) {
	if idx == 0 {
		idx = 1
	}
	w.Header().Set("X-Nomad-Index", strconv.FormatUint(idx, 10))
	w.Header().Set("X-Nomad-KnownLeader", "true")
	w.Header().Set("X-Nomad-LastContact", "0")
}

// queryResult is what one evaluation of a read produces, computed under the
// state lock so the JSON is a consistent snapshot.
type queryResult struct {
	index  uint64
	code   int
	body   []byte
	errMsg string
}

// blocking answers a read, holding it back while ?index=N is given and the
// read's index has not moved past N (Nomad's blocking query), up to ?wait
// (default 5m, capped at 10m).
func (s *Server) blocking(w http.ResponseWriter, r *http.Request, read func() (idx uint64, code int, v any, errMsg string)) {
	q := r.URL.Query()
	minIndex, _ := strconv.ParseUint(q.Get("index"), 10, 64)
	wait := 5 * time.Minute
	if ws := q.Get("wait"); ws != "" {
		if d, err := time.ParseDuration(ws); err == nil {
			wait = d
		} else if n, err := strconv.Atoi(ws); err == nil {
			wait = time.Duration(n) * time.Millisecond
		}
	}
	if wait > 10*time.Minute {
		wait = 10 * time.Minute
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		var res queryResult
		done := false
		ch := s.st.read(func() {
			idx, code, v, errMsg := read()
			done = minIndex == 0 || idx > minIndex
			if !done {
				select {
				case <-deadline.C:
					done = true
				default:
				}
			}
			if done {
				res = queryResult{index: idx, code: code, errMsg: errMsg}
				if errMsg == "" {
					res.body, _ = json.Marshal(v)
				}
			}
		})
		if done {
			s.setQueryHeaders(w, res.index)
			if res.errMsg != "" {
				httpError(w, res.code, res.errMsg)
			} else {
				writeRaw(w, res.code, res.body)
			}
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			// Re-read once more and answer whatever is there.
			minIndex = 0
		case <-r.Context().Done():
			return
		}
	}
}

func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 64<<20))
	return dec.Decode(v)
}

func logf(format string, args ...any) { log.Printf(format, args...) }
