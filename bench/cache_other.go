//go:build !linux

package main

import (
	"errors"
	"os"
)

var errNoDrop = errors.New("dropping files from the page cache needs linux's posix_fadvise; cold reads are warm here")

func dropCache([]string) error { return errNoDrop }

func resident([]string) (int64, int64, error) { return 0, 0, errNoDrop }

func blocksRead() int64 { return -1 }

// datasync flushes f to the disk; without fdatasync, with fsync.
func datasync(f *os.File) error { return f.Sync() }
