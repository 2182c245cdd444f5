package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/nomad/api"
)

// dockerDriver is Nomad's docker driver (drivers/docker) as configured for
// the conformance recordings: plugin "docker" with volumes enabled, no
// privileged mode, each container removed once it has exited, images kept.
type dockerDriver struct {
	c *dockerClient
	// nodeIDs are the agent's nodes, whose containers a previous run may have left.
	nodeIDs []string
}

// The labels Nomad puts on a task's container (alloc_id always, the rest
// with extra_labels); node_id is how a restarted agent finds its leftovers.
const (
	labelAllocID   = "com.hashicorp.nomad.alloc_id"
	labelJobID     = "com.hashicorp.nomad.job_id"
	labelJobName   = "com.hashicorp.nomad.job_name"
	labelGroup     = "com.hashicorp.nomad.task_group_name"
	labelTask      = "com.hashicorp.nomad.task_name"
	labelNamespace = "com.hashicorp.nomad.namespace"
	labelNodeID    = "com.hashicorp.nomad.node_id"
	labelNodeName  = "com.hashicorp.nomad.node_name"
)

// dockerTimeout bounds every engine call but the pull, the wait and the log
// stream, which last as long as the image or the task needs.
const dockerTimeout = 2 * time.Minute

// defaultPullTimeout is Nomad's image_pull_timeout default.
const defaultPullTimeout = 5 * time.Minute

func (d *dockerDriver) Capabilities() Capabilities { return Capabilities{FSIsolationImage: true} }

// fingerprint is Nomad's docker fingerprint: the engine answers, or the
// driver is undetected (unhealthy once it has been detected).
func (d *dockerDriver) fingerprint(detectedBefore bool) *api.DriverInfo {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := d.c.version(ctx)
	if err != nil {
		return &api.DriverInfo{Attributes: map[string]string{}, Detected: detectedBefore,
			HealthDescription: "Failed to connect to docker daemon", UpdateTime: time.Now()}
	}
	attrs := map[string]string{"driver.docker": "true", "driver.docker.version": v.Version, "driver.docker.volumes.enabled": "true"}
	if info, err := d.c.info(ctx); err == nil {
		names := make([]string, 0, len(info.Runtimes))
		for name := range info.Runtimes {
			names = append(names, name)
		}
		sort.Strings(names)
		attrs["driver.docker.runtimes"] = strings.Join(names, ",")
		attrs["driver.docker.os_type"] = info.OSType
	}
	return &api.DriverInfo{Attributes: attrs, Detected: true, Healthy: true, HealthDescription: "Healthy", UpdateTime: time.Now()}
}

// removeLeftovers removes the containers of the agent's nodes that a previous run
// of the agent left (it reports their allocations lost and never reattaches),
// as Nomad's dangling-container reconciler does.
func (d *dockerDriver) removeLeftovers() {
	ctx, cancel := context.WithTimeout(context.Background(), dockerTimeout)
	defer cancel()
	var ids []string
	for _, node := range d.nodeIDs {
		found, err := d.c.containersLabelled(ctx, labelNodeID, node)
		if err != nil {
			logf("docker: listing leftover containers: %v", err)
			return
		}
		ids = append(ids, found...)
	}
	for _, id := range ids {
		if err := d.c.containerRemove(ctx, id, true); err != nil {
			logf("docker: removing leftover container %.12s: %v", id, err)
		} else {
			logf("docker: removed leftover container %.12s", id)
		}
	}
}

// dockerConfigKeys are the task config options nomadlite implements; any
// other is refused rather than silently ignored.
var dockerConfigKeys = []string{"image", "command", "args", "entrypoint", "work_dir", "network_mode",
	"security_opt", "devices", "force_pull", "image_pull_timeout"}

func (d *dockerDriver) Prepare(ctx context.Context, cfg *TaskConfig) (PreparedTask, error) {
	spec, err := d.containerSpec(cfg)
	if err != nil {
		return nil, err
	}
	if err := openTaskDirs(cfg); err != nil {
		return nil, fmt.Errorf("failed to set up the task directories: %v", err)
	}
	if err := d.ensureImage(ctx, cfg); err != nil {
		return nil, err
	}
	return &dockerTask{d: d, name: strings.ReplaceAll(cfg.Name, "/", "_") + "-" + cfg.AllocID, spec: spec}, nil
}

// openTaskDirs makes /alloc, /local and /secrets writable for whatever user
// the container runs as, as Nomad does (mode 0777; scenario docker-driver).
// The allocation's own directory becomes 0700, so that on the host only the
// agent and the engine, both root, reach inside.
func openTaskDirs(cfg *TaskConfig) error {
	for _, dir := range []string{filepath.Join(cfg.AllocDir, "alloc"), filepath.Join(cfg.TaskDir, "local"), filepath.Join(cfg.TaskDir, "secrets")} {
		if err := os.Chmod(dir, 0o777); err != nil {
			return err
		}
	}
	return os.Chmod(cfg.AllocDir, 0o700)
}

// ensureImage uses the engine's copy of the image unless the tag is latest
// or force_pull is set, and pulls it otherwise, as Nomad's createImage does.
func (d *dockerDriver) ensureImage(ctx context.Context, cfg *TaskConfig) error {
	image, _ := cfg.Config["image"].(string)
	force, _ := cfg.Config["force_pull"].(bool)
	ref := imageRef(image)
	if !force && !strings.HasSuffix(ref, ":latest") {
		ictx, cancel := context.WithTimeout(ctx, dockerTimeout)
		_, err := d.c.imageInspect(ictx, ref)
		cancel()
		if err == nil {
			return nil
		}
	}
	timeout := defaultPullTimeout
	if s, _ := cfg.Config["image_pull_timeout"].(string); s != "" {
		t, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("Failed to parse image_pull_timeout: %v", err)
		}
		timeout = t
	}
	cfg.Event("Downloading image", map[string]string{"image": ref})
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := d.c.imagePull(pctx, ref); err != nil {
		if pctx.Err() == context.DeadlineExceeded {
			err = fmt.Errorf("no image after image_pull_timeout %v", timeout)
		}
		return fmt.Errorf("Failed to pull `%s`: %v", image, err)
	}
	return nil
}

// imageRef is the image with its tag (latest when it has none) or digest,
// as Nomad's parseDockerImage and dockerImageRef write it.
func imageRef(image string) string {
	name, digest, hasDigest := strings.Cut(image, "@")
	if hasDigest {
		return name + "@" + digest
	}
	if i := strings.LastIndex(name, ":"); i > 0 && !strings.Contains(name[i+1:], "/") {
		return name
	}
	return name + ":latest"
}

// containerSpec is Nomad's createContainerConfig for the options nomadlite
// implements: the task's directories bound in, its host volumes, devices,
// security options, network mode, user, environment, command and memory.
func (d *dockerDriver) containerSpec(cfg *TaskConfig) (*containerCreate, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("failed to decode driver config: "+format, a...)
	}
	keys := make([]string, 0, len(cfg.Config))
	for k := range cfg.Config {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !slices.Contains(dockerConfigKeys, k) {
			return nil, bad("nomadlite's docker driver does not support the option %q (it supports %s)", k, strings.Join(dockerConfigKeys, ", "))
		}
	}
	str := func(k string) (string, error) {
		v, ok := cfg.Config[k]
		if !ok {
			return "", nil
		}
		s, ok := v.(string)
		if !ok {
			return "", bad("%s: want a string, got %T", k, v)
		}
		return s, nil
	}
	list := func(k string) ([]string, error) {
		raw, ok := cfg.Config[k]
		if !ok {
			return nil, nil
		}
		items, ok := raw.([]any)
		if !ok {
			return nil, bad("%s: want a list of strings, got %T", k, raw)
		}
		out := make([]string, len(items))
		for i, it := range items {
			if out[i], ok = it.(string); !ok {
				return nil, bad("%s[%d]: want a string, got %T", k, i, it)
			}
		}
		return out, nil
	}
	image, err := str("image")
	if err != nil {
		return nil, err
	}
	if image == "" {
		return nil, fmt.Errorf("image name required for docker driver")
	}
	if v, ok := cfg.Config["force_pull"]; ok {
		if _, ok := v.(bool); !ok {
			return nil, bad("force_pull: want a bool, got %T", v)
		}
	}
	if _, err := str("image_pull_timeout"); err != nil {
		return nil, err
	}
	command, err := str("command")
	if err != nil {
		return nil, err
	}
	args, err := list("args")
	if err != nil {
		return nil, err
	}
	entrypoint, err := list("entrypoint")
	if err != nil {
		return nil, err
	}
	workDir, err := str("work_dir")
	if err != nil {
		return nil, err
	}
	network, err := str("network_mode")
	if err != nil {
		return nil, err
	}
	secOpts, err := list("security_opt")
	if err != nil {
		return nil, err
	}
	if secOpts, err = parseSecurityOpts(secOpts); err != nil {
		return nil, fmt.Errorf("failed to parse security_opt configuration: %v", err)
	}
	devices, err := parseDevices(cfg.Config["devices"])
	if err != nil {
		return nil, err
	}
	var cmd []string
	switch {
	case command != "":
		if strings.TrimSpace(command) == "" {
			return nil, fmt.Errorf("command empty: %q", command)
		}
		if strings.TrimSpace(command) != command {
			return nil, fmt.Errorf("command contains extra white space: %q", command)
		}
		cmd = append([]string{command}, args...)
	case len(args) > 0:
		cmd = args
	}
	if network == "" {
		network = "default"
	}
	secrets, err := filepath.EvalSymlinks(filepath.Join(cfg.TaskDir, "secrets"))
	if err != nil {
		return nil, err
	}
	var mounts []dockerMount
	for _, m := range cfg.Mounts {
		mounts = append(mounts, dockerMount{Type: "bind", Source: m.HostPath, Target: m.TaskPath, ReadOnly: m.ReadOnly,
			BindOptions: &bindOptions{Propagation: bindPropagation[m.PropagationMode]}})
	}
	// Nomad's memoryLimits: MemoryMB is the hard limit, unless MemoryMaxMB
	// raises it (then MemoryMB is the reservation); no swap beyond it.
	memory, reserve := int64(cfg.MemoryMB)<<20, int64(0)
	if cfg.MemoryMaxMB > 0 {
		memory, reserve = int64(cfg.MemoryMaxMB)<<20, int64(cfg.MemoryMB)<<20
	}
	return &containerCreate{
		Image: imageRef(image), Cmd: cmd, Entrypoint: entrypoint, Env: envList(cfg.Env), User: cfg.User, WorkingDir: workDir,
		Labels: map[string]string{labelAllocID: cfg.AllocID, labelJobID: cfg.JobID, labelJobName: cfg.JobName, labelGroup: cfg.Group,
			labelTask: cfg.Name, labelNamespace: "default", labelNodeID: cfg.NodeID, labelNodeName: cfg.NodeName},
		HostConfig: hostConfig{
			// Nomad's containerBinds: the shared alloc dir, and its logs over it read-only (a task
			// cannot write the logs its collector keeps).
			Binds: []string{filepath.Join(cfg.AllocDir, "alloc") + ":/alloc", filepath.Join(cfg.TaskDir, "local") + ":/local", secrets + ":/secrets",
				filepath.Join(cfg.AllocDir, "alloc", "logs") + ":/alloc/logs:ro"},
			Mounts: mounts, NetworkMode: network, SecurityOpt: secOpts, Devices: devices,
			Memory: memory, MemoryReservation: reserve, MemorySwap: memory, CPUShares: int64(cfg.CPU),
		},
	}, nil
}

// bindPropagation maps a volume_mount's propagation_mode as Nomad does.
var bindPropagation = map[string]string{"": "rprivate", "private": "rprivate", "host-to-task": "rslave", "bidirectional": "rshared"}

// parseSecurityOpts is Nomad's: key=value or key:value, a bare
// no-new-privileges, and seccomp=<file> sent as the file's JSON.
func parseSecurityOpts(opts []string) ([]string, error) {
	out := slices.Clone(opts)
	for i, opt := range out {
		k, v, ok := strings.Cut(opt, "=")
		if !ok && opt != "no-new-privileges" {
			if k, v, ok = strings.Cut(opt, ":"); !ok {
				return nil, fmt.Errorf("invalid security_opt: %q", opt)
			}
		}
		if k == "seccomp" && v != "unconfined" {
			b, err := os.ReadFile(v)
			if err != nil {
				return nil, fmt.Errorf("opening seccomp profile (%s) failed: %v", v, err)
			}
			var compact bytes.Buffer
			if err := json.Compact(&compact, b); err != nil {
				return nil, fmt.Errorf("compacting json for seccomp profile (%s) failed: %v", v, err)
			}
			out[i] = "seccomp=" + compact.String()
		}
	}
	return out, nil
}

// parseDevices reads the devices option: a list of {host_path,
// container_path, cgroup_permissions}, as Nomad's DockerDevice.
func parseDevices(raw any) ([]deviceMapping, error) {
	if raw == nil {
		return nil, nil
	}
	items, ok := raw.([]any)
	if !ok {
		return nil, fmt.Errorf("failed to decode driver config: devices: want a list of objects, got %T", raw)
	}
	var out []deviceMapping
	for i, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("failed to decode driver config: devices[%d]: want an object, got %T", i, it)
		}
		host, _ := m["host_path"].(string)
		inside, _ := m["container_path"].(string)
		perms, _ := m["cgroup_permissions"].(string)
		if host == "" {
			return nil, fmt.Errorf("host path must be set in configuration for devices")
		}
		if inside == "" {
			inside = host
		}
		if perms == "" {
			perms = "rwm"
		}
		if strings.Trim(perms, "rwm") != "" {
			return nil, fmt.Errorf("invalid cgroup permission string: %q", perms)
		}
		out = append(out, deviceMapping{PathOnHost: host, PathInContainer: inside, CgroupPermissions: perms})
	}
	return out, nil
}

type dockerTask struct {
	d    *dockerDriver
	name string
	spec *containerCreate
}

// Start creates and starts the task's container, copies its output into the
// task's logs and watches it until it exits.
func (p *dockerTask) Start(stdout, stderr io.Writer) (TaskHandle, error) {
	c := p.d.c
	ctx, cancel := context.WithTimeout(context.Background(), dockerTimeout)
	defer cancel()
	id, err := c.containerCreate(ctx, p.name, p.spec)
	if isStatus(err, 409) {
		// A container of that name that a restarted agent has not yet
		// removed: Nomad purges it and creates the task's anew.
		if err = c.containerRemove(ctx, p.name, true); err == nil {
			id, err = c.containerCreate(ctx, p.name, p.spec)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("failed to create container: %v", err)
	}
	if err := c.containerStart(ctx, id); err != nil {
		_ = c.containerRemove(ctx, id, true)
		return nil, fmt.Errorf("Failed to start container %s: %v", id, err)
	}
	h := &dockerHandle{c: c, id: id, exited: make(chan struct{}), result: make(chan ExitResult, 1)}
	if st, err := c.containerInspect(ctx, id); err == nil {
		h.pid = st.State.Pid
	}
	logCtx, stopLogs := context.WithCancel(context.Background())
	logsDone := make(chan struct{})
	go func() {
		defer close(logsDone)
		if err := c.containerLogs(logCtx, id, stdout, stderr); err != nil && logCtx.Err() == nil {
			logf("docker: logs of container %.12s: %v", id, err)
		}
	}()
	go h.watch(logsDone, stopLogs)
	return h, nil
}

type dockerHandle struct {
	c      *dockerClient
	id     string
	pid    int
	exited chan struct{}
	result chan ExitResult
}

// watch waits for the container to exit, lets the log copy catch up, removes
// the container and delivers the exit, as Nomad's handle and DestroyTask do:
// without the container's anonymous volumes, which Nomad leaks (scenario
// docker-driver, see README).
func (h *dockerHandle) watch(logsDone <-chan struct{}, stopLogs context.CancelFunc) {
	code, werr := h.c.containerWait(context.Background(), h.id)
	close(h.exited)
	select {
	case <-logsDone:
	case <-time.After(10 * time.Second):
		logf("docker: output of container %.12s still streaming 10s after it exited; cut short", h.id)
	}
	stopLogs()
	<-logsDone
	res := ExitResult{Code: code}
	if werr != nil {
		res.Err = "failed to wait for container: " + werr.Error()
	} else if code != 0 {
		res.Err = fmt.Sprintf("Docker container exited with non-zero exit code: %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), dockerTimeout)
	defer cancel()
	if st, err := h.c.containerInspect(ctx, h.id); err == nil && st.State.OOMKilled {
		res.OOMKilled, res.Err = true, "OOM Killed"
	}
	if err := h.c.containerRemove(ctx, h.id, false); err != nil {
		logf("docker: removing container %.12s: %v", h.id, err)
	}
	h.result <- res
}

func (h *dockerHandle) Pid() int { return h.pid }

func (h *dockerHandle) Wait() <-chan ExitResult { return h.result }

// Stop signals the container and kills it once timeout has passed; an engine
// that finds it no longer running has nothing to do.
func (h *dockerHandle) Stop(sig syscall.Signal, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), dockerTimeout)
	defer cancel()
	_ = h.c.containerKill(ctx, h.id, strconv.Itoa(int(sig)))
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-h.exited:
		return
	case <-timer.C:
	}
	_ = h.c.containerKill(ctx, h.id, strconv.Itoa(int(syscall.SIGKILL)))
	<-h.exited
}
