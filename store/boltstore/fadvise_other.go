//go:build !linux || !(amd64 || arm64)

package boltstore

import "os"

// willNeed does nothing on this system.
func willNeed(f *os.File, size int64) {}

// dropCache does nothing on this system.
func dropCache(f *os.File) error { return nil }
