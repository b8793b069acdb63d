//go:build linux && (amd64 || arm64)

package boltstore

import (
	"os"
	"syscall"
)

const (
	fadvSequential = 2 // POSIX_FADV_SEQUENTIAL
	fadvWillNeed   = 3 // POSIX_FADV_WILLNEED
	fadvDontNeed   = 4 // POSIX_FADV_DONTNEED
)

func fadvise(f *os.File, size int64, advice int) error {
	_, _, errno := syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, uintptr(size), uintptr(advice), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// willNeed starts reading the first size bytes of f into the page cache.
// It is only a hint: its failure changes nothing but speed.
func willNeed(f *os.File, size int64) {
	_ = fadvise(f, size, fadvSequential)
	_ = fadvise(f, size, fadvWillNeed)
}

// dropCache evicts f from the page cache, as far as no process maps it.
func dropCache(f *os.File) error {
	return fadvise(f, 0, fadvDontNeed)
}
