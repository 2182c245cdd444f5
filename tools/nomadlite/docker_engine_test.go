package main

// The docker driver's tests run against a real Docker engine: the one
// NOMADLITE_TEST_DOCKER_HOST names, else a private dockerd this package
// starts (root and Debian's docker.io needed), never a DOCKER_HOST engine
// (that may be the dev stack's). Images come from a registry served here,
// so every pull is a real pull over the registry protocol.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var testDocker struct {
	once     sync.Once
	endpoint string
	registry string // host:port of the test registry
	skip     string
	stop     []func()
}

func TestMain(m *testing.M) {
	code := m.Run()
	for i := len(testDocker.stop) - 1; i >= 0; i-- {
		testDocker.stop[i]()
	}
	os.Exit(code)
}

// dockerForTest returns the engine's endpoint and the test registry, or
// skips the test saying why no engine could be had.
func dockerForTest(t *testing.T) (endpoint, registry string) {
	t.Helper()
	testDocker.once.Do(setupTestDocker)
	if testDocker.skip != "" {
		t.Skip(testDocker.skip)
	}
	return testDocker.endpoint, testDocker.registry
}

func setupTestDocker() {
	busybox, err := staticBusybox()
	if err != nil {
		testDocker.skip = "docker driver tests: " + err.Error()
		return
	}
	reg, err := newTestRegistry(busybox)
	if err != nil {
		testDocker.skip = "docker driver tests: test registry: " + err.Error()
		return
	}
	srv := httptest.NewServer(reg)
	testDocker.stop = append(testDocker.stop, func() { close(reg.closing); srv.Close() })
	testDocker.registry = strings.TrimPrefix(srv.URL, "http://")
	if ep := os.Getenv("NOMADLITE_TEST_DOCKER_HOST"); ep != "" {
		if err := pingDocker(ep, 5*time.Second); err != nil {
			testDocker.skip = fmt.Sprintf("docker driver tests: NOMADLITE_TEST_DOCKER_HOST=%s does not answer: %v", ep, err)
		}
		testDocker.endpoint = ep
		return
	}
	testDocker.endpoint, testDocker.skip = startTestDockerd()
}

// startTestDockerd starts a private engine without networking of its own
// (as the dev stack's: --bridge=none, --iptables=false).
func startTestDockerd() (endpoint, skip string) {
	bin, err := exec.LookPath("dockerd")
	if err != nil {
		return "", "docker driver tests: no engine: NOMADLITE_TEST_DOCKER_HOST is unset and there is no dockerd to start (apt-get install docker.io)"
	}
	if os.Geteuid() != 0 {
		return "", "docker driver tests: no engine: NOMADLITE_TEST_DOCKER_HOST is unset and starting dockerd needs root"
	}
	dir, err := os.MkdirTemp("", "nltd")
	if err != nil {
		return "", "docker driver tests: " + err.Error()
	}
	sock := filepath.Join(dir, "docker.sock")
	logf, _ := os.Create(filepath.Join(dir, "dockerd.log"))
	cmd := exec.Command(bin, "--iptables=false", "--bridge=none", "--data-root", filepath.Join(dir, "data"),
		"--exec-root", filepath.Join(dir, "exec"), "-H", "unix://"+sock, "--pidfile", filepath.Join(dir, "docker.pid"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return "", "docker driver tests: starting dockerd: " + err.Error()
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	testDocker.stop = append(testDocker.stop, func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		unmountUnder(dir)
		_ = os.RemoveAll(dir)
	})
	if err := pingDocker("unix://"+sock, 30*time.Second); err != nil {
		b, _ := os.ReadFile(filepath.Join(dir, "dockerd.log"))
		return "", fmt.Sprintf("docker driver tests: the private dockerd did not answer: %v; its log ends:\n%s", err, tail(string(b), 1500))
	}
	return "unix://" + sock, ""
}

// unmountUnder detaches what a stopped dockerd leaves mounted below dir
// (the default network namespace under its exec root), deepest first.
func unmountUnder(dir string) {
	b, _ := os.ReadFile("/proc/self/mounts")
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], dir+"/") {
			points = append(points, f[1])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(points)))
	for _, p := range points {
		_ = syscall.Unmount(p, syscall.MNT_DETACH)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func pingDocker(endpoint string, within time.Duration) error {
	c, err := newDockerClient(endpoint)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err = c.version(ctx)
		cancel()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// staticBusybox is the host's busybox when it needs no shared libraries, so
// that it runs in an image holding nothing else.
func staticBusybox() ([]byte, error) {
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		static := true
		for _, prog := range f.Progs {
			static = static && prog.Type != elf.PT_INTERP
		}
		f.Close()
		if static {
			return os.ReadFile(p)
		}
	}
	return nil, fmt.Errorf("no static busybox for the test image (apt-get install busybox-static)")
}

// testRegistry serves, over the registry v2 protocol, two images under any
// tag: nomadlite-test/busybox (a static busybox as /bin/sh) and
// nomadlite-test/volume (the same, declaring VOLUME /vol).
// nomadlite-test/slow never answers its manifest.
type testRegistry struct {
	blobs     map[string][]byte
	manifests map[string][]byte // repository → manifest
	closing   chan struct{}     // ends the slow answers, so that Close does not wait on them
}

func newTestRegistry(busybox []byte) (*testRegistry, error) {
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	if err := tw.WriteHeader(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
		return nil, err
	}
	if err := tw.WriteHeader(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(busybox))}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(busybox); err != nil {
		return nil, err
	}
	if err := tw.WriteHeader(&tar.Header{Name: "bin/sh", Typeflag: tar.TypeSymlink, Linkname: "busybox"}); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(layer.Bytes())
	if err := zw.Close(); err != nil {
		return nil, err
	}
	r := &testRegistry{blobs: map[string][]byte{}, manifests: map[string][]byte{}, closing: make(chan struct{})}
	layerDigest := r.add(gz.Bytes())
	diffID := fmt.Sprintf("sha256:%x", sha256.Sum256(layer.Bytes()))
	for repo, volumes := range map[string]map[string]any{"nomadlite-test/busybox": nil, "nomadlite-test/volume": {"/vol": map[string]any{}}} {
		cfg, _ := json.Marshal(map[string]any{
			"architecture": runtime.GOARCH, "os": "linux",
			"config": map[string]any{"Env": []string{"PATH=/bin"}, "Volumes": volumes},
			"rootfs": map[string]any{"type": "layers", "diff_ids": []string{diffID}},
		})
		m, _ := json.Marshal(map[string]any{
			"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
			"config": map[string]any{"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(cfg), "digest": r.add(cfg)},
			"layers": []any{map[string]any{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": gz.Len(), "digest": layerDigest}},
		})
		r.manifests[repo] = m
	}
	return r, nil
}

func (r *testRegistry) add(b []byte) string {
	d := fmt.Sprintf("sha256:%x", sha256.Sum256(b))
	r.blobs[d] = b
	return d
}

func (r *testRegistry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	p := strings.TrimPrefix(req.URL.Path, "/v2/")
	if p == "" {
		_, _ = w.Write([]byte("{}"))
		return
	}
	if repo, _, ok := strings.Cut(p, "/manifests/"); ok {
		if repo == "nomadlite-test/slow" {
			select {
			case <-req.Context().Done():
			case <-r.closing:
			}
			return
		}
		m := r.manifests[repo]
		if m == nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(404)
			_, _ = w.Write([]byte(`{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}`))
			return
		}
		r.write(w, req, "application/vnd.docker.distribution.manifest.v2+json", m)
		return
	}
	if _, digest, ok := strings.Cut(p, "/blobs/"); ok && r.blobs[digest] != nil {
		r.write(w, req, "application/octet-stream", r.blobs[digest])
		return
	}
	w.WriteHeader(404)
}

func (r *testRegistry) write(w http.ResponseWriter, req *http.Request, ctype string, b []byte) {
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Length", fmt.Sprint(len(b)))
	w.Header().Set("Docker-Content-Digest", fmt.Sprintf("sha256:%x", sha256.Sum256(b)))
	if req.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}

// testImage is a reference to repo in the test registry under a tag of the
// test's own, so that the test's first use of it is a pull; the tag is
// removed from the engine when the test ends.
func testImage(t *testing.T, registry, repo string) string {
	ref := fmt.Sprintf("%s/%s:%s", registry, repo, strings.NewReplacer("/", "-", "_", "-").Replace(strings.ToLower(t.Name())))
	t.Cleanup(func() {
		if c, err := newDockerClient(testDocker.endpoint); err == nil {
			_ = c.call(context.Background(), "DELETE", "/images/"+ref, url.Values{"force": {"1"}}, nil, nil)
		}
	})
	return ref
}
