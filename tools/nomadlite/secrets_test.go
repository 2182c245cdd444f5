//go:build linux

package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The task of scenario secrets-noexec, as conformance.py runs it.
const noexecScript = `printf "#!/bin/sh\necho helper-ran\n" > "$NOMAD_SECRETS_DIR/h.sh"; chmod 700 "$NOMAD_SECRETS_DIR/h.sh"; ` +
	`"$NOMAD_SECRETS_DIR/h.sh" || echo "direct-exec-rc=$?"; sh "$NOMAD_SECRETS_DIR/h.sh"; ` +
	`printf "#!/bin/sh\necho local-ran\n" > "$NOMAD_TASK_DIR/l.sh"; chmod 700 "$NOMAD_TASK_DIR/l.sh"; "$NOMAD_TASK_DIR/l.sh"; ` +
	`grep " $NOMAD_SECRETS_DIR " /proc/mounts || echo "secrets-not-a-mount"`

func requireRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
}

// runNoexec runs the scenario's task and returns its stdout and stderr with
// paths written as the recordings write them, and the alloc ID.
func (a *testAgent) runNoexec(job string) (stdout, stderr, id string) {
	a.register(batchJob(job, task("test-0", noexecScript, "")))
	id = a.waitAlloc(job, 5*time.Second, done)["ID"].(string)
	return a.clientPaths(a.logs(id, "test-0", "stdout", ""), id), a.clientPaths(a.logs(id, "test-0", "stderr", ""), id), id
}

// mountedUnder lists what /proc/self/mounts has below dir.
func mountedUnder(dir string) []string {
	b, _ := os.ReadFile("/proc/self/mounts")
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 1 && strings.HasPrefix(f[1], dir+"/") {
			out = append(out, f[1])
		}
	}
	return out
}

func TestSecretsTmpfsNoexec(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	a := startAgent(t, "")
	out, errOut, id := a.runNoexec("noexec")
	// Kernels before 6.4 have no noswap.
	want := strings.ReplaceAll(loadText(t, "secrets-noexec", "logs-stdout.txt"), ",noswap", "")
	if out = strings.ReplaceAll(out, ",noswap", ""); out != want {
		t.Errorf("stdout:\n%s\nrecorded:\n%s", out, want)
	}
	if want := loadText(t, "secrets-noexec", "logs-stderr.txt"); errOut != want {
		t.Errorf("stderr %q, recorded %q", errOut, want)
	}
	allocDir := filepath.Join(a.dir, "alloc", id)
	if m := mountedUnder(allocDir); len(m) != 1 {
		t.Errorf("mounts of the finished alloc: %v", m)
	}
	a.do("DELETE", "/v1/job/noexec?purge=true", nil)
	time.Sleep(200 * time.Millisecond)
	if m := mountedUnder(allocDir); len(m) != 0 {
		t.Errorf("purge left mounts: %v", m)
	}
	if _, err := os.Stat(allocDir); !os.IsNotExist(err) {
		t.Errorf("purge left the alloc dir: %v", err)
	}
	// GC releases them too.
	a.register(batchJob("noexec-gc", task("test-0", "true", "")))
	allocDir = filepath.Join(a.dir, "alloc", a.waitAlloc("noexec-gc", 5*time.Second, done)["ID"].(string))
	time.Sleep(100 * time.Millisecond)
	a.srv.gcOnce(time.Now().Add(time.Second))
	if m := mountedUnder(allocDir); len(m) != 0 {
		t.Errorf("GC left mounts: %v", m)
	}
}

// Without root, secrets/ is a link into a tmpfs someone else mounted noexec
// when there is one: the kernel still refuses to execute from it.
func TestSecretsLinkedIntoNoexecTmpfs(t *testing.T) {
	requireRoot(t) // to mount the stand-in for a container's /dev/shm
	t.Parallel()
	shm := t.TempDir()
	if err := syscall.Mount("tmpfs", shm, "tmpfs", syscall.MS_NOEXEC, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(shm, syscall.MNT_DETACH) })
	linked := filepath.Join(shm, noexecDirName())
	_ = os.Mkdir(linked, 0o700)
	a := startAgent(t, "", func(s *Server) { s.secrets = secretsMode{noexecDir: linked} })
	out, errOut, id := a.runNoexec("linked")
	for _, want := range []string{"direct-exec-rc=126\n", "helper-ran\n", "local-ran\n", "secrets-not-a-mount\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout %q lacks %q", out, want)
		}
	}
	if !strings.HasSuffix(errOut, "/test-0/secrets/h.sh: Permission denied\n") {
		t.Errorf("stderr %q", errOut)
	}
	a.do("DELETE", "/v1/job/linked?purge=true", nil)
	time.Sleep(200 * time.Millisecond)
	if _, err := os.Stat(filepath.Join(linked, id+"-test-0")); !os.IsNotExist(err) {
		t.Errorf("purge left the linked secrets dir: %v", err)
	}
}

// Whatever the mode, a task whose command lies in secrets/ does not start,
// and a template rendered there does not come out executable where the
// kernel would not refuse it.
func TestSecretsCommandRefused(t *testing.T) {
	t.Parallel()
	modes := map[string]func(*Server){"plain": func(s *Server) { s.secrets = secretsMode{} }}
	if os.Geteuid() == 0 {
		modes["tmpfs"] = func(s *Server) { s.secrets = secretsMode{tmpfs: true} }
	}
	for name, mode := range modes {
		a := startAgent(t, "", mode)
		build := task("build", `printf '#!/bin/sh\necho ran\n' > secrets/x.sh; chmod 755 secrets/x.sh; stat -c %a secrets/t.sh`, "prestart")
		build["Templates"] = []M{{"EmbeddedTmpl": "#!/bin/sh\n", "DestPath": "secrets/t.sh", "Perms": "755"}}
		run := task("test-0", "", "")
		run["Config"] = M{"command": "${NOMAD_ALLOC_DIR}/../build/secrets/x.sh"}
		a.register(batchJob("refused", build, run))
		al := a.waitAlloc("refused", 5*time.Second, done)
		ev := lastEvent(al, "test-0", "Driver Failure")
		if ev == nil || !strings.HasSuffix(ev["DriverError"].(string), "/build/secrets/x.sh: permission denied") || started(al, "test-0") {
			t.Errorf("%s: %s %v", name, summarize(al), ev)
		}
		perms := map[string]string{"plain": "644\n", "tmpfs": "755\n"}[name]
		if out := a.logs(al["ID"].(string), "build", "stdout", ""); out != perms {
			t.Errorf("%s: template perms %q, want %q", name, out, perms)
		}
	}
}

// TestSecretsReleasedAtStop: when the agent stops, the secrets/ tmpfs of
// every finished task is unmounted (a data dir left with mounts cannot be
// removed: "Device or resource busy"); a task still running keeps its own
// until the next start, which kills it as lost and unmounts it then.
func TestSecretsReleasedAtStop(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	dir := t.TempDir()
	a := startAgent(t, dir)
	a.register(batchJob("finished", task("test-0", "true", "")))
	finished := filepath.Join(dir, "alloc", a.waitAlloc("finished", 5*time.Second, done)["ID"].(string))
	a.register(batchJob("running", task("build", "true", "prestart"), task("test-0", "sleep 60", "")))
	id := a.waitAlloc("running", 5*time.Second, func(al M) bool { return taskStates(al)["test-0"]["State"] == "running" })["ID"].(string)
	running := filepath.Join(dir, "alloc", id)
	if m := mountedUnder(finished); len(m) != 1 {
		t.Fatalf("finished alloc before the stop: %v", m)
	}
	a.srv.Close() // what SIGTERM does; the tasks are left running
	if m := mountedUnder(finished); len(m) != 0 {
		t.Errorf("the finished allocation's secrets stay mounted: %v", m)
	}
	if m := mountedUnder(running); !slices.Equal(m, []string{filepath.Join(running, "test-0", "secrets")}) {
		t.Errorf("running allocation after the stop: %v, want only the running task's", m)
	}
	if len(procsOfAlloc(id)) == 0 {
		t.Fatalf("the task died with the agent")
	}
	// The next start kills the lost task and releases its secrets/: the data
	// dir can go.
	b := startAgent(t, dir)
	assertNoProcs(t, id)
	if m := mountedUnder(dir); len(m) != 0 {
		t.Errorf("mounts left after the restart: %v", m)
	}
	b.close()
	a.http.Close()
	a.http = nil
	if err := os.RemoveAll(dir); err != nil {
		t.Errorf("the data dir cannot be removed: %v", err)
	}
}
