package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

func canMountTmpfs() bool { return os.Geteuid() == 0 }

// mountSecrets mounts Nomad's secrets tmpfs: noexec, and noswap where the
// kernel has it (6.4+) so secrets stay off the disk.
func mountSecrets(dir string, sizeMB int) error {
	opts := fmt.Sprintf("size=%dm", sizeMB)
	err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOEXEC, opts+",noswap")
	if errors.Is(err, syscall.EINVAL) {
		err = syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOEXEC, opts)
	}
	if err != nil {
		return os.NewSyscallError("mount", err)
	}
	return nil
}

// unmountSecrets detaches whatever is mounted on dir; a plain directory
// answers EINVAL, which leaves nothing to do.
func unmountSecrets(dir string) {
	if canMountTmpfs() {
		_ = syscall.Unmount(dir, syscall.MNT_DETACH)
	}
}
