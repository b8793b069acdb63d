package main

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// dropCache writes each file's dirty pages to disk (fsync) and then asks
// the kernel to drop its pages from the page cache
// (posix_fadvise(POSIX_FADV_DONTNEED)), so that the next read comes from
// the disk. Pages still mapped by a process are not dropped: close a store
// before dropping its files.
func dropCache(files []string) error {
	var errs []error
	for _, path := range files {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			errs = append(errs, err)
			continue
		}
		if err := f.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("fsync %s: %w", path, err))
		}
		if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
			errs = append(errs, fmt.Errorf("posix_fadvise %s: %w", path, err))
		}
		f.Close()
	}
	return errors.Join(errs...)
}

// resident returns how many bytes of the files are in the page cache and
// how many bytes they hold, measured with mincore.
func resident(files []string) (inCache, total int64, err error) {
	pageSize := int64(os.Getpagesize())
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return 0, 0, err
		}
		st, err := f.Stat()
		if err != nil || st.Size() == 0 {
			f.Close()
			continue
		}
		total += st.Size()
		m, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
		f.Close()
		if err != nil {
			return 0, 0, fmt.Errorf("mmap %s: %w", path, err)
		}
		vec := make([]byte, (st.Size()+pageSize-1)/pageSize)
		_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0])))
		unix.Munmap(m)
		if errno != 0 {
			err = errno
			return 0, 0, fmt.Errorf("mincore %s: %w", path, err)
		}
		for _, v := range vec {
			if v&1 != 0 {
				inCache += pageSize
			}
		}
	}
	return min(inCache, total), total, nil
}

// blocksRead returns how many 512-byte blocks this process has read from
// file systems (getrusage's ru_inblock): reads and page faults that missed
// the page cache. It returns -1 when it cannot tell.
func blocksRead() int64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return ru.Inblock
}

// datasync flushes f's data to the disk with fdatasync.
func datasync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }
