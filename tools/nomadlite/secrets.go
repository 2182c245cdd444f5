package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// secretsMode is how this agent keeps tasks from executing what lands in
// their secrets/ (scenario secrets-noexec), decided once at start.
type secretsMode struct {
	// tmpfs: as Nomad does when root, each secrets/ is its own tmpfs
	// mounted noexec, so nothing there reaches the disk or can be executed.
	tmpfs bool
	// noexecDir: without root, a directory on a tmpfs some other party
	// mounted noexec (a container's /dev/shm); each secrets/ is a link into it.
	noexecDir string
}

func detectSecretsMode() secretsMode {
	if canMountTmpfs() {
		return secretsMode{tmpfs: true}
	}
	return secretsMode{noexecDir: noexecTmpfs()}
}

// enforced: the kernel refuses to execute from secrets/.
func (m secretsMode) enforced() bool { return m.tmpfs || m.noexecDir != "" }

func (m secretsMode) String() string {
	switch {
	case m.tmpfs:
		return "a noexec tmpfs per task"
	case m.noexecDir != "":
		return "a link into " + m.noexecDir + " (noexec tmpfs)"
	}
	return "a plain directory: not root and no writable noexec tmpfs, so only the task's own command is refused there"
}

// build makes a task's secrets/ (dir); linkName names its directory in
// noexecDir. Nomad sizes the tmpfs by Resources.SecretsMB, 1 MiB when unset.
func (m secretsMode) build(dir, linkName string, sizeMB int) error {
	switch {
	case m.tmpfs:
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		if err := mountSecrets(dir, max(sizeMB, 1)); err != nil {
			return err
		}
	case m.noexecDir != "":
		target := filepath.Join(m.noexecDir, linkName)
		if err := os.MkdirAll(target, 0o700); err != nil {
			return err
		}
		if err := os.Symlink(target, dir); err != nil {
			return err
		}
	default:
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	return os.Chmod(dir, 0o700)
}

// releaseSecrets undoes build for every task of an allocation, before its
// directory is removed: unmounts the tmpfs, or removes the linked directory.
func releaseSecrets(allocDir string) {
	ents, _ := os.ReadDir(allocDir)
	for _, e := range ents {
		releaseTaskSecrets(filepath.Join(allocDir, e.Name()))
	}
}

// releaseTaskSecrets undoes build for one task directory.
func releaseTaskSecrets(taskDir string) {
	dir := filepath.Join(taskDir, "secrets")
	if target, err := os.Readlink(dir); err == nil {
		// Only what build made: a restarted agent may find links it did not.
		if filepath.Base(filepath.Dir(target)) == noexecDirName() {
			_ = os.RemoveAll(target)
		}
		return
	}
	unmountSecrets(dir)
}

// releaseFinishedSecrets runs when the agent stops: it unmounts the secrets/
// of every task that has finished — all those of finished allocations, the
// dead tasks of live ones — so that nothing of a finished task stays mounted
// in the data dir (which could then not be removed: "Device or resource
// busy"). A task still running or about to start keeps its own, as a Nomad
// client leaves its tasks alone when it stops; the next start, which kills
// what it finds still running, releases theirs (recoverLost). Returns how
// many task dirs it released.
func (s *Server) releaseFinishedSecrets() int {
	n := 0
	for _, node := range s.nodes {
		n += s.releaseFinishedSecretsIn(node.allocRoot)
	}
	return n
}

func (s *Server) releaseFinishedSecretsIn(root string) int {
	ents, _ := os.ReadDir(root)
	var dirs []string
	s.st.locked(func() {
		for _, e := range ents {
			id := e.Name()
			a := s.st.Allocs[id]
			if a == nil && s.runner(id) != nil {
				continue // purged while it runs: its tasks may still need theirs
			}
			tasks, _ := os.ReadDir(filepath.Join(root, id))
			for _, t := range tasks {
				if t.Name() == "alloc" {
					continue
				}
				if a == nil || clientTerminal(a) || a.TaskStates[t.Name()] == nil || a.TaskStates[t.Name()].State == "dead" {
					dirs = append(dirs, filepath.Join(root, id, t.Name()))
				}
			}
		}
	})
	for _, d := range dirs {
		releaseTaskSecrets(d)
	}
	return len(dirs)
}

func noexecDirName() string { return fmt.Sprintf("nomadlite-secrets-%d", os.Getuid()) }

// noexecTmpfs finds a tmpfs mounted rw,noexec where this user can keep a
// private directory, or "".
func noexecTmpfs() string {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || f[2] != "tmpfs" {
			continue
		}
		opts := "," + f[3] + ","
		if !strings.Contains(opts, ",rw,") || !strings.Contains(opts, ",noexec,") {
			continue
		}
		dir := filepath.Join(strings.ReplaceAll(f[1], `\040`, " "), noexecDirName())
		_ = os.Mkdir(dir, 0o700)
		// On a shared /dev/shm someone else could have made the name first.
		if st, err := os.Lstat(dir); err == nil && st.IsDir() && ownedByMe(st) && os.Chmod(dir, 0o700) == nil {
			return dir
		}
	}
	return ""
}

// inSecrets: path lies in some task's secrets/ of the allocation at allocDir.
func inSecrets(allocDir, path string) bool {
	rel, err := filepath.Rel(allocDir, path)
	if err != nil {
		return false
	}
	parts := strings.Split(rel, string(filepath.Separator))
	return len(parts) > 2 && parts[0] != ".." && parts[0] != "alloc" && parts[1] == "secrets"
}

func ownedByMe(st os.FileInfo) bool {
	s, ok := st.Sys().(*syscall.Stat_t)
	return ok && int(s.Uid) == os.Getuid()
}
