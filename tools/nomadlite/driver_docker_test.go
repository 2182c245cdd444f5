package main

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func dtask(name, image, script, hook string) M {
	t := task(name, script, hook)
	t["Driver"] = "docker"
	t["Config"] = M{"image": image, "command": "/bin/sh", "args": []string{"-c", script}}
	return t
}

func startDockerAgent(t *testing.T) (*testAgent, string) {
	endpoint, registry := dockerForTest(t)
	return startAgentWith(t, Config{DockerEndpoint: endpoint}), registry
}

// containersOf lists the engine's containers of an allocation, running or not.
func (a *testAgent) containersOf(allocID string) []string {
	a.t.Helper()
	ids, err := a.srv.docker.c.containersLabelled(context.Background(), labelAllocID, allocID)
	if err != nil {
		a.t.Fatalf("listing containers: %v", err)
	}
	return ids
}

// TestDockerDriver runs the conformance scenario docker-driver: paths,
// mounts, user, templates, host volume, network modes, logs, exit codes, the
// poststop task, what is left in the engine afterwards, and the answers'
// shape against the recording.
func TestDockerDriver(t *testing.T) {
	t.Parallel()
	a, registry := startDockerAgent(t)
	image := testImage(t, registry, "nomadlite-test/busybox")
	port := strings.TrimPrefix(a.http.URL, "http://127.0.0.1:")
	reach := fmt.Sprintf(`printf "GET /v1/status/leader HTTP/1.0\r\n\r\n" | nc -w 2 127.0.0.1 %s 2>/dev/null | grep -q " 200 "`, port)
	build := dtask("build", image, `echo "alloc=$NOMAD_ALLOC_DIR task=$NOMAD_TASK_DIR secrets=$NOMAD_SECRETS_DIR"; echo "uid=$(id -u)"; `+
		`grep -E " /secrets " /proc/mounts; for d in /alloc /local /secrets /alloc/logs; do touch $d/w-$$ 2>/dev/null && echo "writable $d"; done; `+
		`ls -ln /secrets; echo built > $NOMAD_ALLOC_DIR/built; `+
		`touch /cache/w-$$ 2>/dev/null && echo "cache-writable" || echo "cache-not-writable"; `+
		reach+` && echo "bridge-reaches-loopback" || echo "bridge-no-loopback"`, "prestart")
	build["User"] = "65534"
	build["Templates"] = []M{
		{"EmbeddedTmpl": "K=v\n", "DestPath": "secrets/default.env", "ChangeMode": "noop"},
		{"EmbeddedTmpl": "K=v\n", "DestPath": "secrets/private.env", "Perms": "600", "ChangeMode": "noop"},
		{"EmbeddedTmpl": "K=v\n", "DestPath": "secrets/owned.env", "Perms": "600", "Uid": 65534, "Gid": 65534, "ChangeMode": "noop"},
	}
	build["VolumeMounts"] = []M{{"Volume": "cache", "Destination": "/cache", "ReadOnly": false}}
	test := dtask("test-0", image, `cat $NOMAD_ALLOC_DIR/built; echo out-line; echo err-line >&2; `+
		reach+` && echo "host-reaches-loopback"; exit 3`, "")
	test["Config"].(M)["network_mode"] = "host"
	publish := dtask("publish", image, `echo publish-ran; echo digest > $NOMAD_ALLOC_DIR/digest`, "poststop")
	job := batchJob("docker", build, test, publish)
	job["TaskGroups"].([]M)[0]["Volumes"] = M{"cache": M{"Name": "cache", "Type": "host", "Source": "buildah-cache", "ReadOnly": false}}
	a.register(job)
	al := a.waitAlloc("docker", 60*time.Second, done)
	id := al["ID"].(string)
	if al["ClientStatus"] != "failed" {
		t.Errorf("alloc: %s", summarize(al))
	}
	if got := eventTypes(al, "build"); !slices.Equal(got, []string{"Received", "Task Setup", "Driver", "Started", "Terminated"}) {
		t.Errorf("build events %v", got)
	} else if e := lastEvent(al, "build", "Driver"); e["DriverMessage"] != "Downloading image" || e["Details"].(map[string]any)["image"] != image {
		t.Errorf("pull event %v", e)
	}

	out := a.logs(id, "build", "stdout", "")
	for _, want := range []string{"alloc=/alloc task=/local secrets=/secrets\n", "uid=65534\n", "writable /alloc\n", "writable /local\n",
		"writable /secrets\n", "cache-not-writable\n", "bridge-no-loopback\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("build output lacks %q:\n%s", want, out)
		}
	}
	// Nomad binds alloc/logs over /alloc read-only: a task cannot write the logs (seen on 2.0.5).
	if strings.Contains(out, "writable /alloc/logs\n") {
		t.Errorf("/alloc/logs is writable in the container:\n%s", out)
	}
	if !strings.Contains(out, "tmpfs /secrets tmpfs rw,noexec,") {
		t.Errorf("/secrets is not the task's noexec tmpfs:\n%s", out)
	}
	ls := map[string][]string{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 4 && strings.HasPrefix(l, "-") {
			ls[f[len(f)-1]] = f[:4]
		}
	}
	for name, want := range map[string][]string{
		"default.env": {"-rw-r--r--", "1", "0", "0"}, "private.env": {"-rw-------", "1", "0", "0"}, "owned.env": {"-rw-------", "1", "65534", "65534"},
	} {
		if !slices.Equal(ls[name], want) {
			t.Errorf("template %s: %v, want %v", name, ls[name], want)
		}
	}

	tout, terr := a.logs(id, "test-0", "stdout", ""), a.logs(id, "test-0", "stderr", "")
	if tout != "built\nout-line\nhost-reaches-loopback\n" || terr != "err-line\n" {
		t.Errorf("test-0 stdout %q stderr %q", tout, terr)
	}
	ts := taskStates(al)
	term := lastEvent(al, "test-0", "Terminated")
	if ts["test-0"]["Failed"] != true || term["ExitCode"] != float64(3) || term["Message"] != "Docker container exited with non-zero exit code: 3" ||
		term["DisplayMessage"] != `Exit Code: 3, Exit Message: "Docker container exited with non-zero exit code: 3"` || lastEvent(al, "test-0", "Not Restarting") == nil {
		t.Errorf("test-0: %v %v", ts["test-0"]["Failed"], term)
	}
	if e := lastEvent(al, "publish", "Terminated"); e == nil || e["ExitCode"] != float64(0) || e["Message"] != "" {
		t.Errorf("publish: %v", eventTypes(al, "publish"))
	}
	if code, _, b := a.do("GET", "/v1/client/fs/cat/"+id+"?path=alloc/digest", nil); code != 200 || string(b) != "digest\n" {
		t.Errorf("cat digest: %d %q", code, b)
	}
	if left := a.containersOf(id); len(left) != 0 {
		t.Errorf("containers left in the engine: %v", left)
	}
	compareAlloc(t, "alloc", loadFixture(t, "docker-driver", "alloc-final.json"), a.getAny("/v1/allocation/"+id))
}

// TestDockerPullFailures: an image that cannot be pulled is a Driver
// Failure in Nomad's words, the task Failed, the poststop task still runs.
func TestDockerPullFailures(t *testing.T) {
	t.Parallel()
	a, registry := startDockerAgent(t)
	// The engine words a registry's answer its own way: the message is
	// checked up to what nomadlite writes.
	cases := []struct{ name, image, pullTimeout, want string }{
		{"refused", "127.0.0.1:1/nomadlite-test/absent:1", "",
			"Failed to pull `127.0.0.1:1/nomadlite-test/absent:1`: Error response from daemon: Get \"http://127.0.0.1:1/v2/\": dial tcp 127.0.0.1:1: connect: connection refused"},
		{"unknown", registry + "/nomadlite-test/absent:1", "",
			"Failed to pull `" + registry + "/nomadlite-test/absent:1`: Error response from daemon: "},
		{"timeout", registry + "/nomadlite-test/slow:1", "1s",
			"Failed to pull `" + registry + "/nomadlite-test/slow:1`: no image after image_pull_timeout 1s"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tk := dtask("test-0", c.image, "true", "")
			if c.pullTimeout != "" {
				tk["Config"].(M)["image_pull_timeout"] = c.pullTimeout
			}
			jobID := "docker-pull-" + c.name
			t0 := time.Now()
			a.register(batchJob(jobID, tk, task("publish", "echo publish-ran", "poststop")))
			al := a.waitAlloc(jobID, 30*time.Second, done)
			df := lastEvent(al, "test-0", "Driver Failure")
			if df == nil || !strings.HasPrefix(df["DriverError"].(string), c.want) || c.name != "unknown" && df["DriverError"] != c.want {
				t.Fatalf("Driver Failure %v, want %q", df, c.want)
			}
			if got := eventTypes(al, "test-0"); !slices.Equal(got, []string{"Received", "Task Setup", "Driver", "Driver Failure", "Not Restarting"}) {
				t.Errorf("events %v", got)
			}
			if taskStates(al)["test-0"]["Failed"] != true || started(al, "test-0") || al["ClientStatus"] != "failed" || lastEvent(al, "publish", "Terminated") == nil {
				t.Errorf("alloc %s", summarize(al))
			}
			if c.pullTimeout != "" && time.Since(t0) > 15*time.Second {
				t.Errorf("a 1s pull timeout took %v", time.Since(t0))
			}
			if c.name == "refused" {
				compareAlloc(t, "alloc", loadFixture(t, "docker-driver", "alloc-no-image.json"), a.getAny("/v1/allocation/"+al["ID"].(string)))
			}
		})
	}
	t.Run("stopped", func(t *testing.T) {
		t.Parallel()
		a.register(batchJob("docker-pull-stopped", dtask("test-0", registry+"/nomadlite-test/slow:1", "true", "")))
		a.waitAlloc("docker-pull-stopped", 10*time.Second, func(al M) bool { return lastEvent(al, "test-0", "Driver") != nil })
		t0 := time.Now()
		a.do("DELETE", "/v1/job/docker-pull-stopped", nil)
		al := a.waitAlloc("docker-pull-stopped", 10*time.Second, done)
		if got := eventTypes(al, "test-0"); !slices.Equal(got, []string{"Received", "Task Setup", "Driver", "Killing"}) || taskStates(al)["test-0"]["Failed"] != false {
			t.Errorf("a stop during the pull: %v", got)
		}
		if d := time.Since(t0); d > 5*time.Second {
			t.Errorf("the stop waited %v for the pull", d)
		}
	})
}

// TestDockerStop: stopping the job kills the running container (the kill
// signal, then SIGKILL after the kill timeout), poststop still runs.
func TestDockerStop(t *testing.T) {
	t.Parallel()
	a, registry := startDockerAgent(t)
	image := testImage(t, registry, "nomadlite-test/busybox")
	// sh as PID 1 ignores SIGTERM: only the SIGKILL after KillTimeout ends it.
	a.register(batchJob("docker-stop", dtask("build", image, "sleep 60", "prestart"), dtask("test-0", image, "true", ""),
		dtask("publish", image, "echo publish-ran", "poststop")))
	al := a.waitAlloc("docker-stop", 60*time.Second, func(al M) bool { return taskStates(al)["build"]["State"] == "running" })
	t0 := time.Now()
	a.do("DELETE", "/v1/job/docker-stop", nil)
	al = a.waitAlloc("docker-stop", 30*time.Second, done)
	if got := eventTypes(al, "build"); !slices.Equal(got, []string{"Received", "Task Setup", "Driver", "Started", "Killing", "Terminated", "Killed"}) {
		t.Errorf("build events %v", got)
	}
	if term := lastEvent(al, "build", "Terminated"); term["ExitCode"] != float64(137) {
		t.Errorf("build Terminated %v", term)
	}
	if taskStates(al)["build"]["Failed"] != false || started(al, "test-0") || al["ClientStatus"] != "complete" || a.logs(al["ID"].(string), "publish", "stdout", "") != "publish-ran\n" {
		t.Errorf("alloc %s", summarize(al))
	}
	if d := time.Since(t0); d > 15*time.Second {
		t.Errorf("stop took %v", d)
	}
	compareAlloc(t, "alloc", loadFixture(t, "docker-driver", "alloc-killed.json"), a.getAny("/v1/allocation/"+al["ID"].(string)))

	// A KillSignal the task handles ends it at once, cleanly.
	tk := dtask("test-0", image, `trap 'echo got-usr1; exit 0' USR1; echo ready; while true; do sleep 0.1; done`, "")
	tk["KillSignal"], tk["KillTimeout"] = "SIGUSR1", int64(30*time.Second)
	a.register(batchJob("docker-signal", tk))
	al = a.waitAlloc("docker-signal", 60*time.Second, func(al M) bool { return taskStates(al)["test-0"]["State"] == "running" })
	id := al["ID"].(string)
	for deadline := time.Now().Add(10 * time.Second); a.logs(id, "test-0", "stdout", "") == "" && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	t0 = time.Now()
	a.do("DELETE", "/v1/job/docker-signal", nil)
	al = a.waitAlloc("docker-signal", 20*time.Second, done)
	if term := lastEvent(al, "test-0", "Terminated"); term == nil || term["ExitCode"] != float64(0) || time.Since(t0) > 10*time.Second {
		t.Errorf("SIGUSR1: %v after %v", term, time.Since(t0))
	}
	if out := a.logs(id, "test-0", "stdout", ""); out != "ready\ngot-usr1\n" {
		t.Errorf("SIGUSR1 output %q", out)
	}
}

// TestDockerSiblingFailure: a failing main task kills its docker siblings.
func TestDockerSiblingFailure(t *testing.T) {
	t.Parallel()
	a, registry := startDockerAgent(t)
	image := testImage(t, registry, "nomadlite-test/busybox")
	t0 := time.Now()
	a.register(batchJob("docker-sib", dtask("test-0", image, "sleep 0.5; exit 7", ""), dtask("test-1", image, "sleep 60", ""),
		task("publish", "echo publish-ran", "poststop")))
	al := a.waitAlloc("docker-sib", 60*time.Second, done)
	if got := eventTypes(al, "test-1"); !slices.Contains(got, "Sibling Task Failed") || !slices.Contains(got, "Killed") || taskStates(al)["test-1"]["Failed"] != false {
		t.Errorf("sibling events %v", got)
	}
	if lastEvent(al, "test-0", "Terminated")["ExitCode"] != float64(7) || al["ClientStatus"] != "failed" || lastEvent(al, "publish", "Terminated") == nil {
		t.Errorf("alloc %s", summarize(al))
	}
	if d := time.Since(t0); d > 40*time.Second {
		t.Errorf("the sibling was left to run: %v", d)
	}
}

// TestDockerOptions: devices, security_opt, work_dir, memory, and options
// nomadlite cannot honour refused by name.
func TestDockerOptions(t *testing.T) {
	t.Parallel()
	a, registry := startDockerAgent(t)
	image := testImage(t, registry, "nomadlite-test/busybox")
	var info struct{ MemoryLimit bool }
	if err := a.srv.docker.c.call(context.Background(), "GET", "/info", nil, nil, &info); err != nil {
		t.Fatal(err)
	}
	tk := dtask("test-0", image, `test -c /dev/nl-null && echo device-ok; grep NoNewPrivs /proc/self/status; echo "pwd=$(pwd)"; `+
		`echo "where=$WHERE zero=$0 path=$PATH"; `+
		`echo "mem=$(cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"`, "")
	tk["Env"] = M{"WHERE": "${NOMAD_SECRETS_DIR}/x"}
	cfg := tk["Config"].(M)
	cfg["args"] = []string{"-c", cfg["args"].([]string)[1], "${NOMAD_ALLOC_DIR}"}
	cfg["devices"] = []M{{"host_path": "/dev/null", "container_path": "/dev/nl-null"}}
	cfg["security_opt"] = []string{"no-new-privileges"}
	cfg["work_dir"] = "/local"
	a.register(batchJob("docker-opts", tk))
	al := a.waitAlloc("docker-opts", 60*time.Second, done)
	out := a.logs(al["ID"].(string), "test-0", "stdout", "")
	// ${NOMAD_*} in env and args are the container's paths; PATH is the
	// image's, nothing of the agent's environment.
	want := "device-ok\nNoNewPrivs:\t1\npwd=/local\nwhere=/secrets/x zero=/alloc path=/bin\n"
	if info.MemoryLimit {
		want += fmt.Sprintf("mem=%d\n", 64<<20)
	}
	if !strings.HasPrefix(out, want) {
		t.Errorf("output %q, want %q", out, want)
	}
	bad := dtask("test-0", image, "true", "")
	bad["Config"].(M)["privileged"] = true
	a.register(batchJob("docker-privileged", bad))
	al = a.waitAlloc("docker-privileged", 30*time.Second, done)
	df := lastEvent(al, "test-0", "Driver Failure")
	if df == nil || !strings.HasPrefix(df["DriverError"].(string), `failed to decode driver config: nomadlite's docker driver does not support the option "privileged"`) {
		t.Errorf("unsupported option: %v", df)
	}

	noImage := dtask("test-0", "", "true", "")
	a.register(batchJob("docker-noimage", noImage))
	al = a.waitAlloc("docker-noimage", 30*time.Second, done)
	if df := lastEvent(al, "test-0", "Driver Failure"); df == nil || df["DriverError"] != "image name required for docker driver" {
		t.Errorf("no image: %v", df)
	}
}

// TestDockerAnonymousVolumes: the container goes, its anonymous volumes stay
// — what Nomad does (scenario docker-driver), so that a job that would leak
// them on Nomad leaks them here too.
func TestDockerAnonymousVolumes(t *testing.T) {
	t.Parallel()
	a, registry := startDockerAgent(t)
	image := testImage(t, registry, "nomadlite-test/volume")
	c := a.srv.docker.c
	dangling := func() []string {
		var out struct{ Volumes []struct{ Name string } }
		if err := c.call(context.Background(), "GET", "/volumes", url.Values{"filters": {`{"dangling":["true"]}`}}, nil, &out); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, v := range out.Volumes {
			names = append(names, v.Name)
		}
		return names
	}
	before := dangling()
	a.register(batchJob("docker-vol", dtask("test-0", image, "echo x > /vol/x", "")))
	al := a.waitAlloc("docker-vol", 60*time.Second, done)
	if al["ClientStatus"] != "complete" || len(a.containersOf(al["ID"].(string))) != 0 {
		t.Fatalf("alloc %s, containers %v", summarize(al), a.containersOf(al["ID"].(string)))
	}
	var leaked []string
	for _, v := range dangling() {
		if !slices.Contains(before, v) {
			leaked = append(leaked, v)
		}
	}
	for _, v := range leaked {
		_ = c.call(context.Background(), "DELETE", "/volumes/"+v, nil, nil, nil)
	}
	if len(leaked) != 1 {
		t.Errorf("anonymous volumes left: %v, want the image's one (as Nomad leaves it)", leaked)
	}
}

// TestDockerNode: the node reports the docker driver as Nomad's client does,
// and the scheduler places docker tasks on it; an engine that does not
// answer leaves the driver undetected and docker tasks unplaced.
func TestDockerNode(t *testing.T) {
	t.Parallel()
	down := startAgentWith(t, Config{DockerEndpoint: "unix://" + filepath.Join(t.TempDir(), "none.sock")})
	var nodes []M
	down.getJSON("/v1/nodes", &nodes)
	d := nodes[0]["Drivers"].(map[string]any)["docker"].(map[string]any)
	if d["Detected"] != false || d["Healthy"] != false || d["HealthDescription"] != "Failed to connect to docker daemon" {
		t.Errorf("unreachable engine: %v", d)
	}
	down.register(batchJob("docker-down", dtask("test-0", "busybox:1", "true", "")))
	var evs []M
	down.getJSON("/v1/job/docker-down/evaluations", &evs)
	if len(evs) == 0 || !strings.Contains(fmt.Sprint(evs[0]["FailedTGAllocs"]), "missing drivers") {
		t.Errorf("placed on an unreachable engine: %v", evs)
	}

	a, registry := startDockerAgent(t)
	var node M
	a.getJSON("/v1/nodes", &nodes)
	a.getJSON("/v1/node/"+nodes[0]["ID"].(string), &node)
	for where, drv := range map[string]any{"nodes": nodes[0]["Drivers"], "node": node["Drivers"]} {
		d := drv.(map[string]any)["docker"].(map[string]any)
		attrs := d["Attributes"].(map[string]any)
		if d["Detected"] != true || d["Healthy"] != true || attrs["driver.docker"] != "true" || attrs["driver.docker.version"] == "" {
			t.Errorf("%s: docker driver %v", where, d)
		}
	}
	if node["Attributes"].(map[string]any)["driver.docker"] != "1" {
		t.Errorf("node attribute driver.docker %v", node["Attributes"].(map[string]any)["driver.docker"])
	}
	job := batchJob("docker-node", dtask("test-0", testImage(t, registry, "nomadlite-test/busybox"), "true", ""))
	job["Constraints"] = []M{{"LTarget": "${attr.driver.docker}", "RTarget": "1", "Operand": "="}}
	a.register(job)
	if al := a.waitAlloc("docker-node", 60*time.Second, done); al["ClientStatus"] != "complete" {
		t.Errorf("alloc %s", summarize(al))
	}
}

// TestDockerAgentRestart: a restarted agent reports the docker task lost and
// removes its container, which it never reattaches.
func TestDockerAgentRestart(t *testing.T) {
	t.Parallel()
	endpoint, registry := dockerForTest(t)
	dir := t.TempDir()
	a := startAgentWith(t, Config{DataDir: dir, DockerEndpoint: endpoint})
	a.register(batchJob("docker-lost", dtask("test-0", testImage(t, registry, "nomadlite-test/busybox"), "sleep 60", "")))
	al := a.waitAlloc("docker-lost", 60*time.Second, func(al M) bool { return taskStates(al)["test-0"]["State"] == "running" })
	id := al["ID"].(string)
	a.close()
	if len(a.containersOf(id)) != 1 {
		t.Fatalf("the container died with the agent; the restart path is not exercised")
	}
	b := startAgentWith(t, Config{DataDir: dir, DockerEndpoint: endpoint})
	var got M
	b.getJSON("/v1/allocation/"+id, &got)
	if got["ClientStatus"] != "lost" || lastEvent(got, "test-0", "Killed") == nil {
		t.Errorf("after restart: %s", summarize(got))
	}
	if left := b.containersOf(id); len(left) != 0 {
		t.Errorf("containers left after restart: %v", left)
	}
}
