//go:build !linux

package main

import "errors"

func canMountTmpfs() bool { return false }

func mountSecrets(string, int) error { return errors.ErrUnsupported }

func unmountSecrets(string) {}
