package boltstore

import (
	"errors"
	"fmt"
	"runtime/debug"
)

// ErrLocked is returned by [Open] when another process (or another Store in
// this process) holds the file open and the lock was not released within
// [Options.Timeout].
var ErrLocked = errors.New("boltstore: file is locked by another process")

// ErrNotStore is returned by [Open] when the file exists but is not an
// audit event store: not a bbolt file at all, or a bbolt file written by
// another program. The file is left as it was.
var ErrNotStore = errors.New("boltstore: file is not an audit event store")

// ErrNewerFormat is returned by [Open] when the file was written by a newer
// version of this package, in a format this version cannot read. The file
// is left as it was.
var ErrNewerFormat = errors.New("boltstore: file was written in a newer format")

// ErrCorrupt is returned when the file is damaged: by [Open] when the damage
// shows in the parts it reads, and by any other method that meets damaged
// data. Nothing is written to a file found damaged while opening it.
// [Store.Check] looks at every page.
var ErrCorrupt = errors.New("boltstore: file is corrupted")

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// guard runs fn, turning a panic or a memory fault inside it into an error
// wrapping ErrCorrupt. bbolt panics, or reads past the end of its mapping,
// on some damaged files; a library must return an error instead.
func guard(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = corruptf("%v", r)
		}
	}()
	return fn()
}
