//go:build !linux || !(amd64 || arm64)

package boltstore

import "os"

// dropCache does nothing on this system.
func dropCache(f *os.File) error { return nil }

// resident cannot tell on this system.
func resident(addr uintptr, n int64, pageSize int) []byte { return nil }
