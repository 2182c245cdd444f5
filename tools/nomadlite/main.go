// Command nomadlite is a single-node stand-in for a HashiCorp Nomad agent: it
// serves the subset of Nomad's HTTP API the Nomad Build Service uses and runs
// batch tasks on this host with Nomad's raw_exec and docker drivers.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// nomadVersion is the Nomad release whose behaviour nomadlite mirrors.
const nomadVersion = "2.0.5"

// Version of nomadlite itself.
const version = "0.1.0"

type kvList map[string]string

func (k kvList) String() string { return fmt.Sprint(map[string]string(k)) }
func (k kvList) Set(v string) error {
	name, val, ok := strings.Cut(v, "=")
	if !ok || name == "" {
		return fmt.Errorf("want name=value, got %q", v)
	}
	k[name] = val
	return nil
}

func main() {
	log.SetFlags(log.Ldate | log.Ltime | log.Lmicroseconds)
	log.SetPrefix("nomadlite: ")
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	switch os.Args[1] {
	case "version", "-version", "--version":
		fmt.Printf("nomadlite %s (Nomad API %s subset)\n", version, nomadVersion)
	case "agent":
		os.Exit(agentMain(os.Args[2:]))
	default:
		usage()
		os.Exit(2)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: nomadlite agent -bind 127.0.0.1 -port 4646 -data-dir DIR -host-volume buildah-cache=PATH [-host-volume name=path]... [-node-meta K=V]... [-node-class C] [-gc-age 1h] [-gc-max-allocs 50] [-nodes N] [-heartbeat-ttl 20s] [-rpc-hold-timeout 5s] [-docker-endpoint unix:///path/docker.sock]\n       nomadlite version")
}

func agentMain(args []string) int {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	cfg := Config{HostVolumes: kvList{}, NodeMeta: kvList{}}
	fs.StringVar(&cfg.Bind, "bind", "127.0.0.1", "address to listen on")
	port := fs.Int("port", 4646, "HTTP port")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "state and allocation directory (required)")
	fs.Var(kvList(cfg.HostVolumes), "host-volume", "host volume name=path (repeatable)")
	fs.Var(kvList(cfg.NodeMeta), "node-meta", "node meta K=V (repeatable)")
	fs.StringVar(&cfg.NodeClass, "node-class", "", "node class")
	fs.DurationVar(&cfg.GCAge, "gc-age", time.Hour, "age after which finished allocations and evaluations are collected")
	fs.StringVar(&cfg.DockerEndpoint, "docker-endpoint", "", "Docker Engine API socket, unix:///path/docker.sock (default $DOCKER_HOST; neither: no docker driver)")
	fs.IntVar(&cfg.Nodes, "nodes", 1, "client nodes the agent runs, named <hostname>-1…-N when more than one")
	fs.DurationVar(&cfg.HeartbeatTTL, "heartbeat-ttl", 20*time.Second, "how long a partitioned node goes without heartbeat before the servers mark it down")
	fs.DurationVar(&cfg.RPCHoldTimeout, "rpc-hold-timeout", 5*time.Second, "how long a partitioned node's Task API waits for the servers before it fails, as Nomad's rpc_hold_timeout")
	fs.IntVar(&cfg.GCMaxAllocs, "gc-max-allocs", 50, "allocations the node keeps before collecting the oldest finished ones' directories, as Nomad's client gc_max_allocs (0: no limit)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if cfg.DockerEndpoint == "" {
		// As Nomad's docker driver without an endpoint: the DOCKER_HOST engine.
		if h := os.Getenv("DOCKER_HOST"); strings.HasPrefix(h, "unix://") {
			cfg.DockerEndpoint = h
		} else if h != "" {
			log.Printf("DOCKER_HOST=%s is not a unix:// socket: no docker driver", h)
		}
	}
	if cfg.DataDir == "" {
		fmt.Fprintln(os.Stderr, "nomadlite agent: -data-dir is required")
		return 2
	}
	srv, err := NewServer(cfg)
	if err != nil {
		log.Printf("start: %v", err)
		return 1
	}
	addr := net.JoinHostPort(cfg.Bind, strconv.Itoa(*port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Printf("listen: %v", err)
		return 1
	}
	for _, n := range srv.nodes {
		log.Printf("node %s: %s", n.node.Name, n.node.ID)
	}
	log.Printf("serving Nomad API subset on http://%s (data dir %s)", addr, cfg.DataDir)
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sig
		log.Printf("got %v, saving state and exiting (running tasks are left alone and reported lost on restart)", s)
		srv.Close()
		os.Exit(0)
	}()
	if err := hs.Serve(ln); err != nil {
		log.Printf("serve: %v", err)
		return 1
	}
	return 0
}
