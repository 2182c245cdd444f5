package main

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/nomad/api"
)

const datacenter = "dc1"

// buildNode fingerprints this host the way a Nomad client would, as far as
// the scheduler's checks need it: kernel, arch, OS, CPU and memory capacity,
// the raw_exec driver and the host volumes (docker is added by
// fingerprintDocker). One of `share` nodes gets 1/share of the CPU and
// memory: they all run on this machine, and a node offering all of it would
// let the scheduler place share times what the machine can hold.
func buildNode(cfg Config, id, name string, hostVolumes map[string]string, share int) *api.Node {
	host, _ := os.Hostname()
	cpuMHz, cores := cpuCapacity()
	memMB := memCapacityMB()
	if share > 1 {
		cpuMHz, memMB, cores = cpuMHz/share, memMB/share, max(cores/share, 1)
	}
	attrs := map[string]string{
		"kernel.name":             runtime.GOOS,
		"kernel.version":          kernelVersion(),
		"cpu.arch":                runtime.GOARCH,
		"cpu.numcores":            strconv.Itoa(cores),
		"cpu.totalcompute":        strconv.Itoa(cpuMHz),
		"memory.totalbytes":       strconv.FormatInt(int64(memMB)<<20, 10),
		"os.name":                 osName(),
		"unique.hostname":         host,
		"driver.raw_exec":         "1",
		"nomad.version":           nomadVersion,
		"nomad.advertise.address": "127.0.0.1:4646",
	}
	vols := map[string]*api.HostVolumeInfo{}
	for name, p := range hostVolumes {
		vols[name] = &api.HostVolumeInfo{Path: p, ReadOnly: false}
	}
	meta := map[string]string{}
	for k, v := range cfg.NodeMeta {
		meta[k] = v
	}
	return &api.Node{
		ID:         id,
		Datacenter: datacenter,
		Name:       name,
		HTTPAddr:   "127.0.0.1:4646",
		Attributes: attrs,
		NodeResources: &api.NodeResources{
			Cpu:            api.NodeCpuResources{CpuShares: int64(cpuMHz), TotalCpuCores: uint16(cores), ReservableCpuCores: coreIDs(cores)},
			Memory:         api.NodeMemoryResources{MemoryMB: int64(memMB)},
			Disk:           api.NodeDiskResources{DiskMB: freeDiskMB(cfg.DataDir)},
			Networks:       []*api.NetworkResource{{Mode: "host", Device: "lo", CIDR: "127.0.0.1/32", IP: "127.0.0.1", MBits: new(1000)}},
			MinDynamicPort: 20000, MaxDynamicPort: 32000,
		},
		// Like a Nomad dev agent: nothing reserved for the host itself.
		ReservedResources:     &api.NodeReservedResources{},
		Resources:             &api.Resources{CPU: new(cpuMHz), MemoryMB: new(memMB)},
		Meta:                  meta,
		NodeClass:             cfg.NodeClass,
		NodePool:              "default",
		SchedulingEligibility: "eligible",
		Status:                "ready",
		StatusUpdatedAt:       time.Now().Unix(),
		Drivers: map[string]*api.DriverInfo{"raw_exec": {
			Attributes: map[string]string{"driver.raw_exec": "true"}, Detected: true, Healthy: true,
			HealthDescription: "Healthy", UpdateTime: time.Now(),
		}},
		HostVolumes: vols,
		Events:      []*api.NodeEvent{{Message: "Node registered", Subsystem: "Cluster", Timestamp: time.Now(), CreateIndex: 1}},
		CreateIndex: 1,
		ModifyIndex: 1,
	}
}

// fingerprintPeriod is how often Nomad's docker driver fingerprints.
const fingerprintPeriod = 30 * time.Second

func (s *Server) fingerprintLoop() {
	if s.docker == nil {
		return
	}
	every(s.stop, fingerprintPeriod, s.fingerprintDocker)
}

// fingerprintDocker records the docker driver in the node as Nomad's client
// does: Drivers.docker with the fingerprint, and the attribute driver.docker
// = "1" (plus the driver's other attributes) while it is detected. Without
// an endpoint the driver is undetected. When the driver turns healthy,
// leftovers of a previous run are removed (first time) and evaluations
// blocked on "missing drivers" are retried.
func (s *Server) fingerprintDocker() {
	info := &api.DriverInfo{Attributes: map[string]string{}, HealthDescription: "Failed to connect to docker daemon", UpdateTime: time.Now()}
	if s.docker != nil {
		info = s.docker.fingerprint(s.dockerDetected)
	}
	s.nodeMu.Lock()
	// The nodes share the machine, hence the engine and its fingerprint.
	prev := s.nodes[0].node.Drivers["docker"]
	for _, cn := range s.nodes {
		n := cn.node
		n.Drivers["docker"] = info
		for k := range n.Attributes {
			if k == "driver.docker" || strings.HasPrefix(k, "driver.docker.") {
				delete(n.Attributes, k)
			}
		}
		if info.Detected {
			for k, v := range info.Attributes {
				n.Attributes[k] = v
			}
			n.Attributes["driver.docker"] = "1"
		}
	}
	first := info.Healthy && !s.dockerDetected
	s.dockerDetected = s.dockerDetected || info.Healthy
	s.nodeMu.Unlock()
	if s.docker == nil {
		logf("no docker driver: neither -docker-endpoint nor DOCKER_HOST names an engine")
		return
	}
	if first {
		s.docker.removeLeftovers()
	}
	switch {
	case info.Healthy && (prev == nil || !prev.Healthy):
		logf("docker driver healthy: engine %s at %s", info.Attributes["driver.docker.version"], s.docker.c.endpoint)
		go s.retryBlocked(true)
	case !info.Healthy && (prev == nil || prev.Healthy):
		logf("docker driver not available: %s", info.HealthDescription)
	}
}

// driverUsable is Nomad's DriverChecker: the node has the driver, detected
// and healthy.
func (s *Server) driverUsable(n *clientNode, name string) bool {
	if s.drivers[name] == nil {
		return false
	}
	s.nodeMu.Lock()
	defer s.nodeMu.Unlock()
	d := n.node.Drivers[name]
	return d != nil && d.Detected && d.Healthy
}

// cpuCapacity: Nomad's fingerprint is cores × clock MHz; /proc/cpuinfo's MHz
// wanders with frequency scaling, so a steady 2000 MHz per core is used when
// it is missing or implausible.
func cpuCapacity() (mhz, cores int) {
	cores = runtime.NumCPU()
	per := 2000
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "cpu MHz" {
				if x, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && x > 500 {
					per = int(x)
				}
				break
			}
		}
	}
	return cores * per, cores
}

func coreIDs(n int) []uint16 {
	ids := make([]uint16, n)
	for i := range ids {
		ids[i] = uint16(i)
	}
	return ids
}

// freeDiskMB is Nomad's disk fingerprint: the space free where allocations live.
func freeDiskMB(dir string) int64 {
	var st syscall.Statfs_t
	if syscall.Statfs(dir, &st) != nil {
		return 0
	}
	return int64(st.Bavail) * int64(st.Bsize) >> 20
}

func memCapacityMB() int {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 1024
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, _ := strconv.Atoi(fields[1])
			return kb / 1024
		}
	}
	return 1024
}

func kernelVersion() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func osName() string {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "ID="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}
