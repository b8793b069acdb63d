//go:build !linux || !(amd64 || arm64)

package boltstore

import "os"

// dropCache does nothing on this system.
func dropCache(f *os.File) error { return nil }

// resident cannot tell on this system.
func resident(addr uintptr, n int64, pageSize int) []byte { return nil }

// canAdvise reports whether advise asks the kernel for anything.
const canAdvise = false

// advise does nothing on this system.
func advise(f *os.File, off, n int64) {}

// majorFaults cannot tell on this system.
func majorFaults() int64 { return 0 }
