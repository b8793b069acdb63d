//go:build linux && (amd64 || arm64)

package boltstore

import (
	"os"
	"syscall"
	"unsafe"
)

const (
	fadvWillNeed = 3 // POSIX_FADV_WILLNEED
	fadvDontNeed = 4 // POSIX_FADV_DONTNEED
)

// canAdvise reports whether advise asks the kernel for anything.
const canAdvise = true

// advise asks the kernel to read the n bytes of f at off into the page
// cache, without waiting for them. It is a hint: errors are ignored.
func advise(f *os.File, off, n int64) {
	syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), uintptr(off), uintptr(n), fadvWillNeed, 0, 0)
}

// dropCache evicts f from the page cache, as far as no process maps it.
func dropCache(f *os.File) error {
	_, _, errno := syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, 0, fadvDontNeed, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// resident reports, for each page of the n bytes mapped at addr, whether it
// is in the page cache, or returns nil when it cannot tell. mincore only
// reads the kernel's tables: an address no longer mapped is an error, never
// a fault.
func resident(addr uintptr, n int64, pageSize int) []byte {
	vec := make([]byte, (n+int64(pageSize)-1)/int64(pageSize))
	if len(vec) == 0 {
		return nil
	}
	_, _, errno := syscall.Syscall(syscall.SYS_MINCORE, addr, uintptr(n), uintptr(unsafe.Pointer(&vec[0])))
	if errno != 0 {
		return nil
	}
	return vec
}

// majorFaults returns how many page faults of the calling thread had to
// wait for the disk. A goroutine moved to another thread between two calls
// compares two threads' counts: callers take it as a hint.
func majorFaults() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(rusageThread, &ru) != nil {
		return 0
	}
	return ru.Majflt
}

const rusageThread = 1 // RUSAGE_THREAD
