package main

// A small client for the part of the Docker Engine API the docker driver
// uses, over the engine's unix socket. github.com/docker/docker/client would
// bring moby, containerd, OpenTelemetry and OCI modules for a dozen calls
// whose JSON has been stable since API 1.25; typed structs over net/http
// keep the module graph to the Nomad api package and make every request the
// driver sends visible here.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

type dockerClient struct {
	endpoint string
	http     *http.Client
}

// newDockerClient takes an endpoint as Docker writes it (unix:///path).
// Paths carry no API version, so the engine answers in its own (current)
// version: what the driver reads is the same in every version since 1.25,
// and engines that dropped old versions (Docker 29 serves 1.44 and later)
// still answer.
func newDockerClient(endpoint string) (*dockerClient, error) {
	sock, ok := strings.CutPrefix(endpoint, "unix://")
	if !ok || sock == "" {
		return nil, fmt.Errorf("docker endpoint %q: only unix:///path/to/docker.sock is supported", endpoint)
	}
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}
	return &dockerClient{endpoint: endpoint, http: &http.Client{Transport: tr}}, nil
}

// dockerError is an error answer of the engine. Its text is what the docker
// CLI and Go client print, which is what Nomad's events quote.
type dockerError struct {
	Status  int
	Message string
}

func (e *dockerError) Error() string { return "Error response from daemon: " + e.Message }

func isStatus(err error, status int) bool {
	var de *dockerError
	return errors.As(err, &de) && de.Status == status
}

// request sends one call; a non-2xx answer becomes a *dockerError.
func (c *dockerClient) request(ctx context.Context, method, path string, query url.Values, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	u := "http://docker" + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("Cannot connect to the Docker daemon at %s: %w", c.endpoint, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var m struct{ Message string }
		if json.Unmarshal(b, &m) != nil || m.Message == "" {
			m.Message = strings.TrimSpace(string(b))
		}
		return nil, &dockerError{Status: resp.StatusCode, Message: m.Message}
	}
	return resp, nil
}

// call sends one call and decodes its JSON answer into out (if not nil).
func (c *dockerClient) call(ctx context.Context, method, path string, query url.Values, body, out any) error {
	resp, err := c.request(ctx, method, path, query, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

type dockerVersion struct {
	Version    string
	APIVersion string `json:"ApiVersion"`
}

type dockerInfo struct {
	OSType   string
	Runtimes map[string]any
}

func (c *dockerClient) version(ctx context.Context) (v dockerVersion, err error) {
	return v, c.call(ctx, "GET", "/version", nil, nil, &v)
}

func (c *dockerClient) info(ctx context.Context) (i dockerInfo, err error) {
	return i, c.call(ctx, "GET", "/info", nil, nil, &i)
}

type dockerImage struct {
	ID string `json:"Id"`
}

func (c *dockerClient) imageInspect(ctx context.Context, ref string) (img dockerImage, err error) {
	return img, c.call(ctx, "GET", "/images/"+ref+"/json", nil, nil, &img)
}

// imagePull pulls ref (which carries its tag or digest, so that the engine
// does not pull every tag) and returns the error the engine reports, either
// as an answer or inside its progress stream.
func (c *dockerClient) imagePull(ctx context.Context, ref string) error {
	resp, err := c.request(ctx, "POST", "/images/create", url.Values{"fromImage": {ref}}, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var msg struct{ Error string }
		if err := dec.Decode(&msg); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if msg.Error != "" {
			return errors.New(msg.Error)
		}
	}
}

type containerCreate struct {
	Image      string
	Cmd        []string `json:",omitempty"`
	Entrypoint []string `json:",omitempty"`
	Env        []string
	User       string `json:",omitempty"`
	WorkingDir string `json:",omitempty"`
	Labels     map[string]string
	HostConfig hostConfig
}

type hostConfig struct {
	Binds             []string
	Mounts            []dockerMount `json:",omitempty"`
	NetworkMode       string
	SecurityOpt       []string        `json:",omitempty"`
	Devices           []deviceMapping `json:",omitempty"`
	Memory            int64
	MemoryReservation int64 `json:",omitempty"`
	MemorySwap        int64
	CPUShares         int64 `json:"CpuShares"`
}

type dockerMount struct {
	Type        string
	Source      string
	Target      string
	ReadOnly    bool
	BindOptions *bindOptions `json:",omitempty"`
}

type bindOptions struct{ Propagation string }

type deviceMapping struct {
	PathOnHost, PathInContainer, CgroupPermissions string
}

func (c *dockerClient) containerCreate(ctx context.Context, name string, cfg *containerCreate) (id string, err error) {
	var out struct {
		ID string `json:"Id"`
	}
	err = c.call(ctx, "POST", "/containers/create", url.Values{"name": {name}}, cfg, &out)
	return out.ID, err
}

func (c *dockerClient) containerStart(ctx context.Context, id string) error {
	return c.call(ctx, "POST", "/containers/"+id+"/start", nil, nil, nil)
}

type containerState struct {
	State struct {
		Pid       int
		OOMKilled bool
	}
}

func (c *dockerClient) containerInspect(ctx context.Context, id string) (st containerState, err error) {
	return st, c.call(ctx, "GET", "/containers/"+id+"/json", nil, nil, &st)
}

// containerWait returns the container's exit code once it is not running
// (at once if it has already exited).
func (c *dockerClient) containerWait(ctx context.Context, id string) (int, error) {
	var out struct {
		StatusCode int
		Error      *struct{ Message string }
	}
	if err := c.call(ctx, "POST", "/containers/"+id+"/wait", url.Values{"condition": {"not-running"}}, nil, &out); err != nil {
		return 0, err
	}
	if out.Error != nil && out.Error.Message != "" {
		return out.StatusCode, errors.New(out.Error.Message)
	}
	return out.StatusCode, nil
}

func (c *dockerClient) containerKill(ctx context.Context, id, signal string) error {
	return c.call(ctx, "POST", "/containers/"+id+"/kill", url.Values{"signal": {signal}}, nil, nil)
}

// containerRemove removes a container, stopping it first if it runs, and
// its anonymous volumes only when volumes is set.
func (c *dockerClient) containerRemove(ctx context.Context, id string, volumes bool) error {
	q := url.Values{"force": {"1"}}
	if volumes {
		q.Set("v", "1")
	}
	return c.call(ctx, "DELETE", "/containers/"+id, q, nil, nil)
}

// containersLabelled lists the IDs of containers, running or not, that carry
// label=value.
func (c *dockerClient) containersLabelled(ctx context.Context, label, value string) ([]string, error) {
	f, _ := json.Marshal(map[string][]string{"label": {label + "=" + value}})
	var out []struct {
		ID string `json:"Id"`
	}
	if err := c.call(ctx, "GET", "/containers/json", url.Values{"all": {"1"}, "filters": {string(f)}}, nil, &out); err != nil {
		return nil, err
	}
	ids := make([]string, len(out))
	for i, ct := range out {
		ids[i] = ct.ID
	}
	return ids, nil
}

// containerLogs copies a (non-TTY) container's output from its start until
// it exits, splitting the engine's multiplexed stream: each frame is an
// 8-byte header (stream 1 stdout or 2 stderr, then the length, big-endian)
// and the payload.
func (c *dockerClient) containerLogs(ctx context.Context, id string, stdout, stderr io.Writer) error {
	resp, err := c.request(ctx, "GET", "/containers/"+id+"/logs", url.Values{"follow": {"1"}, "stdout": {"1"}, "stderr": {"1"}}, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		w := stdout
		if hdr[0] == 2 {
			w = stderr
		}
		if _, err := io.CopyN(w, r, int64(binary.BigEndian.Uint32(hdr[4:]))); err != nil {
			return err
		}
	}
}
