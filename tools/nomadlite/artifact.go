package main

// Nomad's artifact hook (client/allocrunner/taskrunner/artifact_hook.go) and the part of
// go-getter v1 its getter subprocess runs for http(s) sources: the URL with the options as
// query parameters, a checksum checked on the downloaded bytes, archives unpacked by the
// extension of the URL path into the destination — with go-getter's rules: no entry with a
// ".." element, no symlinks (an entry of any other type becomes a regular file holding the
// entry's bytes, so a symlink arrives empty with mode 0777), permission bits only, Nomad's
// client limits (4096 files). Everything is written through an os.Root opened on the
// allocation directory, so that nothing (a link left in alloc/ by an earlier task, a
// hostile entry) can make it land outside, which Nomad's getter sandbox (landlock) ensures.

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"
)

const (
	// artifactTimeout bounds one artifact's download, as the client's
	// artifact.http_read_timeout (default 30m) does: an archive of hundreds
	// of MB on a slow link fits, a stalled server does not hold a task forever.
	artifactTimeout = 30 * time.Minute
	// artifactFilesLimit and artifactSizeLimit are the client's
	// artifact.decompression_file_count_limit and decompression_size_limit
	// defaults (4096 entries, 100 GB unpacked).
	artifactFilesLimit = 4096
	artifactSizeLimit  = 100 << 30
)

// The getter's HTTP client: go-getter's (go-cleanhttp's) timeouts for the
// connection and TLS; redirects are followed.
var (
	artifactClient         = newArtifactClient(false)
	artifactInsecureClient = newArtifactClient(true)
)

func newArtifactClient(insecure bool) *http.Client {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableKeepAlives:     true,
		ForceAttemptHTTP2:     true,
	}
	if insecure {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	return &http.Client{Transport: tr}
}

// decompressors are go-getter's, by the name an archive option or the URL
// path's extension gives; nil: go-getter has it, Go's standard library not.
var decompressors = map[string]*decompressor{
	"tar": {kind: "tar"}, "tar.gz": {kind: "tar", gz: true}, "tgz": {kind: "tar", gz: true},
	"tar.bz2": {kind: "tar", bz2: true}, "tbz2": {kind: "tar", bz2: true}, "zip": {kind: "zip"},
	"gz": {kind: "single", gz: true}, "bz2": {kind: "single", bz2: true},
	"xz": nil, "tar.xz": nil, "txz": nil, "zst": nil, "tar.zst": nil, "tzst": nil,
}

type decompressor struct {
	kind    string // tar, zip, single (one compressed file)
	gz, bz2 bool
}

// archiveOf is go-getter's choice of decompressor: the archive option names
// it (false: none, and so does any name go-getter does not know, such as
// "true"), else the longest known extension of the URL path. name is "" for
// none; ok is false for an archive nomadlite cannot unpack.
func archiveOf(archiveOpt, urlPath string) (name string, d *decompressor, ok bool) {
	name = archiveOpt
	if name != "" {
		if b, err := strconv.ParseBool(name); err == nil && !b {
			return "", nil, true
		}
	} else {
		for k := range decompressors {
			if strings.HasSuffix(urlPath, "."+k) && len(k) > len(name) {
				name = k
			}
		}
	}
	d, known := decompressors[name]
	if !known {
		return "", nil, true
	}
	return name, d, d != nil
}

// artifactError is a failed download. Getter errors are those of Nomad's
// getter subprocess and are worded as Nomad relays them; recoverable ones
// go through the restart policy (Nomad's RecoverableError).
type artifactError struct {
	source      string // the artifact's GetterSource as the job wrote it
	err         error
	getter      bool
	recoverable bool
}

func (e *artifactError) Error() string {
	if e.getter {
		return fmt.Sprintf("failed to download artifact %q: getter subprocess failed: exit status 1: failed to download artifact: %v", e.source, e.err)
	}
	return fmt.Sprintf("failed to download artifact %q: %v", e.source, e.err)
}

// fetchArtifacts downloads the task's artifacts in order into its directory.
// env interpolates source, options and headers; destEnv the destination,
// where NOMAD_TASK_DIR and friends are paths relative to the task dir.
func (ar *allocRunner) fetchArtifacts(ctx context.Context, t *api.Task, env, destEnv map[string]string) error {
	root, err := os.OpenRoot(ar.dir)
	if err != nil {
		return &artifactError{err: err, recoverable: true}
	}
	defer root.Close()
	for _, a := range t.Artifacts {
		if err := ar.fetchArtifact(ctx, root, t, a, env, destEnv); err != nil {
			return err
		}
	}
	return nil
}

func (ar *allocRunner) fetchArtifact(ctx context.Context, root *os.Root, t *api.Task, a *api.TaskArtifact, env, destEnv map[string]string) error {
	src := deref(a.GetterSource)
	fail := func(getter, recoverable bool, err error) error {
		return &artifactError{source: src, err: err, getter: getter, recoverable: recoverable}
	}
	rawDest := deref(a.RelativeDest)
	if rawDest == "" {
		rawDest = "local/"
	}
	dest := filepath.Join(t.Name, ar.interpolate(rawDest, destEnv, t))
	if dest == ".." || strings.HasPrefix(dest, "../") {
		return fail(false, false, errors.New("artifact destination path escapes the alloc directory"))
	}
	source := ar.interpolate(src, env, t)
	u, err := url.Parse(source)
	if err != nil {
		return fail(false, false, fmt.Errorf("failed to parse source URL %q: %v", src, err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fail(false, false, fmt.Errorf("nomadlite fetches http and https artifacts only, not %q", source))
	}
	q := u.Query()
	for k, v := range a.GetterOptions {
		q.Add(k, ar.interpolate(v, env, t))
	}
	archiveOpt, checksumOpt := q.Get("archive"), q.Get("checksum")
	q.Del("archive")
	q.Del("checksum")
	archive, dec, ok := archiveOf(archiveOpt, u.Path)
	if !ok {
		return fail(true, false, fmt.Errorf("nomadlite cannot unpack %q archives (xz and zstd are not in Go's standard library): set the option archive = \"false\" and unpack it in the task", archive))
	}
	var sum *fileChecksum
	if checksumOpt != "" {
		if sum, err = parseChecksum(checksumOpt); err != nil {
			return fail(true, false, fmt.Errorf("invalid checksum: %v", err))
		}
	}
	mode := deref(a.GetterMode)
	// Where the download goes: an archive to a temporary file, unpacked from
	// there into the destination (a directory, or the file in mode "file");
	// anything else straight to the destination, in mode "any" to a file
	// named after the URL path (or the filename option).
	dst, unpackDir := dest, mode != "file"
	if dec != nil {
		tmp, err := tempDir(root, filepath.Join(t.Name, "tmp"))
		if err != nil {
			return fail(true, true, err)
		}
		defer root.RemoveAll(tmp)
		dst = filepath.Join(tmp, "archive")
	} else {
		switch {
		case mode == "dir" || mode != "file" && strings.HasSuffix(u.Path, "/"):
			return fail(true, false, fmt.Errorf("nomadlite cannot fetch an HTTP directory (go-getter's X-Terraform-Get protocol): %s", source))
		case mode != "file":
			name := path.Base(u.Path)
			if v := q.Get("filename"); v != "" {
				q.Del("filename")
				name = v
			}
			if containsDotDot(name) {
				return fail(true, false, errors.New("filename query parameter contain path traversal"))
			}
			dst = filepath.Join(dest, name)
		}
	}
	u.RawQuery = q.Encode()
	header := http.Header{}
	for k, v := range a.GetterHeaders {
		header.Set(k, ar.interpolate(v, env, t))
	}
	client := artifactClient
	if deref(a.GetterInsecure) {
		client = artifactInsecureClient
	}
	ctx, cancel := context.WithTimeout(ctx, artifactTimeout)
	defer cancel()
	if err := download(ctx, client, u.String(), header, root, dst, sum); err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return err // killed meanwhile: not a download failure
		}
		return fail(true, true, err)
	}
	if dec == nil {
		return nil
	}
	if err := unpack(dec, root, dst, dest, unpackDir); err != nil {
		return fail(true, true, err)
	}
	return nil
}

// download streams the URL into root/dst, hashing as it writes, and checks
// the checksum, as go-getter's HttpGetter.GetFile then FileChecksum do.
func download(ctx context.Context, client *http.Client, rawURL string, header http.Header, root *os.Root, dst string, sum *fileChecksum) error {
	// go-getter first asks with HEAD whether the server takes ranges, to
	// resume a partial file; the file is always new here, so the answer
	// changes nothing, but servers see the same requests as from Nomad.
	if req, err := http.NewRequestWithContext(ctx, http.MethodHead, rawURL, nil); err == nil {
		req.Header = header.Clone()
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return err
	}
	req.Header = header.Clone()
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent {
		return fmt.Errorf("bad response code: %d", resp.StatusCode)
	}
	if err := mkdirs(root, filepath.Dir(dst)); err != nil {
		return err
	}
	f, err := root.OpenFile(dst, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	var w io.Writer = f
	if sum != nil {
		w = io.MultiWriter(f, sum.h)
	}
	n, err := io.Copy(w, resp.Body)
	if err == nil && resp.ContentLength > 0 && n < resp.ContentLength {
		err = io.ErrShortWrite
	}
	err = errors.Join(err, f.Close())
	if err == nil {
		err = root.Chmod(dst, 0o644)
	}
	if err != nil {
		return err
	}
	if sum != nil {
		if got := sum.h.Sum(nil); !bytes.Equal(got, sum.want) {
			return fmt.Errorf("Checksums did not match for %s.\nExpected: %s\nGot: %s\n%T",
				filepath.Join(root.Name(), dst), hex.EncodeToString(sum.want), hex.EncodeToString(got), sum.h)
		}
	}
	return nil
}

// fileChecksum is go-getter's checksum option: "type:hex" (md5, sha1,
// sha256, sha512), or the bare hex, its type told by its length.
type fileChecksum struct {
	h    hash.Hash
	want []byte
}

func parseChecksum(v string) (*fileChecksum, error) {
	typ, value, found := strings.Cut(v, ":")
	if !found {
		value = v
		switch len(v) {
		case md5.Size * 2:
			typ = "md5"
		case sha1.Size * 2:
			typ = "sha1"
		case sha256.Size * 2:
			typ = "sha256"
		case sha512.Size * 2:
			typ = "sha512"
		default:
			return nil, fmt.Errorf("Unknown type for checksum %s", v)
		}
	}
	c := &fileChecksum{}
	switch typ {
	case "md5":
		c.h = md5.New()
	case "sha1":
		c.h = sha1.New()
	case "sha256":
		c.h = sha256.New()
	case "sha512":
		c.h = sha512.New()
	case "file":
		return nil, errors.New("nomadlite does not fetch checksum files (checksum=file:…)")
	default:
		return nil, fmt.Errorf("unsupported checksum type: %s", typ)
	}
	b, err := hex.DecodeString(value)
	if err != nil {
		return nil, fmt.Errorf("invalid checksum: %s", err)
	}
	c.want = b
	return c, nil
}

// containsDotDot: a "/" or "\" separated element of v is "..", as go-getter checks entries.
func containsDotDot(v string) bool {
	if !strings.Contains(v, "..") {
		return false
	}
	for _, e := range strings.FieldsFunc(v, func(r rune) bool { return r == '/' || r == '\\' }) {
		if e == ".." {
			return true
		}
	}
	return false
}

// tempDir makes a fresh getter<random> directory in dir, as the getter's TMPDIR.
func tempDir(root *os.Root, dir string) (string, error) {
	if err := mkdirs(root, dir); err != nil {
		return "", err
	}
	for range 100 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		name := filepath.Join(dir, "getter"+strconv.FormatUint(uint64(b[0])<<24|uint64(b[1])<<16|uint64(b[2])<<8|uint64(b[3]), 10))
		if err := root.Mkdir(name, 0o700); err == nil {
			return name, nil
		} else if !errors.Is(err, os.ErrExist) {
			return "", err
		}
	}
	return "", errors.New("cannot make a temporary directory for the artifact")
}

// mkdirs makes dir and its missing parents mode 0755, whatever the agent's umask.
func mkdirs(root *os.Root, dir string) error {
	dir = filepath.Clean(dir)
	if dir == "." {
		return nil
	}
	st, err := root.Stat(dir)
	if err == nil {
		if !st.IsDir() {
			return fmt.Errorf("mkdir %s: not a directory", filepath.Join(root.Name(), dir))
		}
		return nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return err // e.g. a link out of the allocation: "path escapes from parent"
	}
	if err := mkdirs(root, filepath.Dir(dir)); err != nil {
		return err
	}
	if err := root.Mkdir(dir, 0o755); err != nil {
		return err
	}
	return root.Chmod(dir, 0o755)
}

// unpack unarchives the downloaded file src into dst (a directory when dir,
// else the one file), both relative to root, as go-getter's decompressors do.
func unpack(d *decompressor, root *os.Root, src, dst string, dir bool) error {
	abs := filepath.Join(root.Name(), src)
	mkdir := dst
	if !dir {
		mkdir = filepath.Dir(dst)
	}
	if err := mkdirs(root, mkdir); err != nil {
		return err
	}
	f, err := root.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	if d.kind == "zip" {
		st, err := f.Stat()
		if err != nil {
			return err
		}
		return unzip(f, st.Size(), root, dst, abs, dir)
	}
	var r io.Reader = f
	switch {
	case d.gz:
		gz, err := gzip.NewReader(f)
		if err != nil {
			if d.kind == "tar" {
				return fmt.Errorf("Error opening a gzip reader for %s: %s", abs, err)
			}
			return err
		}
		defer gz.Close()
		r = gz
	case d.bz2:
		r = bzip2.NewReader(f)
	}
	if d.kind == "single" {
		if dir {
			if d.gz {
				return errors.New("gzip-compressed files can only unarchive to a single file")
			}
			return errors.New("bzip2-compressed files can only unarchive to a single file")
		}
		return copyReader(root, dst, r, 0o622)
	}
	return untar(r, root, dst, abs, dir)
}

// copyReader writes a file with exactly mode perm (the umask aside), as go-getter's does.
func copyReader(root *os.Root, dst string, r io.Reader, perm os.FileMode) error {
	f, err := root.OpenFile(dst, os.O_RDWR|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err = errors.Join(err, f.Close()); err != nil {
		return err
	}
	return root.Chmod(dst, perm)
}

func untar(r io.Reader, root *os.Root, dst, src string, dir bool) error {
	tr := tar.NewReader(r)
	done := false
	type dirEntry struct {
		path string
		hdr  *tar.Header
	}
	var dirs []dirEntry
	now := time.Now()
	var size int64
	count := 0
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			if !done {
				return fmt.Errorf("empty archive: %s", src)
			}
			break
		}
		if err != nil {
			return err
		}
		if count++; count > artifactFilesLimit {
			return fmt.Errorf("tar archive contains too many files: %d > %d", count, artifactFilesLimit)
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader || hdr.Typeflag == tar.TypeXHeader {
			continue
		}
		p := dst
		if dir {
			if containsDotDot(hdr.Name) {
				return fmt.Errorf("entry contains '..': %s", hdr.Name)
			}
			p = filepath.Join(p, hdr.Name)
		}
		fi := hdr.FileInfo()
		if size += fi.Size(); size > artifactSizeLimit {
			return fmt.Errorf("tar archive larger than limit: %d", artifactSizeLimit)
		}
		if fi.IsDir() {
			if !dir {
				return fmt.Errorf("expected a single file: %s", src)
			}
			if err := mkdirs(root, p); err != nil {
				return err
			}
			dirs = append(dirs, dirEntry{p, hdr})
			continue
		}
		if err := mkdirs(root, filepath.Dir(p)); err != nil {
			return err
		}
		if !dir && done {
			return fmt.Errorf("expected a single file, got multiple: %s", src)
		}
		done = true
		// Whatever the entry's type (a symlink, a hard link, a device), it
		// becomes a regular file with the entry's bytes and permission bits.
		if err := copyReader(root, p, tr, fi.Mode().Perm()); err != nil {
			return err
		}
		if err := root.Chtimes(p, validTime(hdr.AccessTime, now), validTime(hdr.ModTime, now)); err != nil {
			return err
		}
	}
	for _, d := range dirs {
		if err := root.Chmod(d.path, d.hdr.FileInfo().Mode().Perm()); err != nil {
			return err
		}
		if err := root.Chtimes(d.path, validTime(d.hdr.AccessTime, now), validTime(d.hdr.ModTime, now)); err != nil {
			return err
		}
	}
	return nil
}

func validTime(t, fallback time.Time) time.Time {
	if t.Unix() > 0 {
		return t
	}
	return fallback
}

func unzip(ra io.ReaderAt, size int64, root *os.Root, dst, src string, dir bool) error {
	zr, err := zip.NewReader(ra, size)
	if err != nil {
		return err
	}
	if len(zr.File) == 0 {
		return fmt.Errorf("empty archive: %s", src)
	}
	if !dir && len(zr.File) > 1 {
		return fmt.Errorf("expected a single file: %s", src)
	}
	if len(zr.File) > artifactFilesLimit {
		return fmt.Errorf("zip archive contains too many files: %d > %d", len(zr.File), artifactFilesLimit)
	}
	var total int64
	for _, f := range zr.File {
		p := dst
		if dir {
			if containsDotDot(f.Name) {
				return fmt.Errorf("entry contains '..': %s", f.Name)
			}
			p = filepath.Join(p, f.Name)
		}
		fi := f.FileInfo()
		if total += fi.Size(); total > artifactSizeLimit {
			return fmt.Errorf("zip archive larger than limit: %d", artifactSizeLimit)
		}
		if fi.IsDir() {
			if !dir {
				return fmt.Errorf("expected a single file: %s", src)
			}
			if err := mkdirs(root, p); err != nil {
				return err
			}
			continue
		}
		if dir {
			if err := mkdirs(root, filepath.Dir(p)); err != nil {
				return err
			}
		}
		rc, err := f.Open()
		if err != nil {
			return err
		}
		err = copyReader(root, p, rc, f.Mode().Perm())
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
