package boltstore

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
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
// version of this package, in a format this version cannot read, or, with
// [Options.NoLog], when the file has the verifiable log (format 3 or later), which
// NoLog would leave out of step. The file is left as it was.
var ErrNewerFormat = errors.New("boltstore: file was written in a newer format")

// ErrOlderFormat is returned by [Open] when the file was written in an
// older format than the one this version of the package reads; the error
// names both versions. The file is left as it was: read it with the version
// of the package that wrote it and append its events to a new store.
var ErrOlderFormat = errors.New("boltstore: file was written in an older format")

// ErrReadOnly is returned by Append and Prune of a store opened with
// [Options.ReadOnly].
var ErrReadOnly = errors.New("boltstore: store is open read-only")

// ErrNoLog is returned by the methods of [auditevents.Ledger] (TreeSize,
// ReadHashes, Lookup, Accounts, Entries) and of [auditevents.Positions]
// (positions are sequences of the log) of a store opened with
// [Options.NoLog], which keeps no verifiable log.
var ErrNoLog = errors.New("boltstore: store is open without the verifiable log (Options.NoLog)")

// ErrCorrupt is returned when the file is damaged: by [Open] when the damage
// shows in the parts it reads, and by any other method that meets damaged
// data. Nothing is written to a file found damaged while opening it.
// [Store.Check] looks at every page.
//
// A file whose parts were changed outside the store, with bbolt directly,
// so that they no longer agree is damaged in this sense: an Append onto a
// log's tree changed so fails with ErrCorrupt and writes nothing, rather
// than extend a tree that no longer matches the events.
// [auditevents.Verify], against a checkpoint signed before the change,
// names what changed. ErrCorrupt does not wrap [auditevents.ErrTampered],
// Verify's verdict against signed checkpoints: the store holds none, and
// cannot tell an attack from damage.
var ErrCorrupt = errors.New("boltstore: file is corrupted")

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// guard runs fn, which reads the file through bbolt, and turns a panic
// that damage in the file can cause into an error wrapping ErrCorrupt:
// bbolt trusts the pages it reads and panics on some damaged ones, and a
// read past the end of a truncated mapping is a memory fault, which guard
// turns into a panic too. Any other panic is a bug in this package: guard
// returns it as a *bugError that keeps the panic value and the stack,
// never as ErrCorrupt, so that a sound file is not reported as damaged.
func guard(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if fromDamage(r) {
			err = corruptf("%v", r)
			return
		}
		err = &bugError{value: r, stack: debug.Stack()}
	}()
	return fn()
}

// fromDamage reports whether the panic being recovered, with value r, can
// come from a damaged file: a memory fault, or a panic raised inside
// bbolt. It must be called by the deferred function that recovered it.
func fromDamage(r any) bool {
	if _, ok := r.(interface{ Addr() uintptr }); ok {
		return true // a fault reading the mapped file
	}
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	panicking := false
	for {
		f, more := frames.Next()
		switch {
		case f.Function == "runtime.gopanic":
			panicking = true
		case panicking && !strings.HasPrefix(f.Function, "runtime."):
			// The function that panicked, or whose runtime error did.
			return strings.HasPrefix(f.Function, "go.etcd.io/bbolt.") || strings.HasPrefix(f.Function, "go.etcd.io/bbolt/")
		}
		if !more {
			return false
		}
	}
}

// bugError is a panic inside this package that no damaged file explains:
// a bug, reported with the panic's value and stack.
type bugError struct {
	value any
	stack []byte
}

func (e *bugError) Error() string {
	return fmt.Sprintf("boltstore: internal error (a bug, not damage to the file): %v\n%s", e.value, e.stack)
}

// Unwrap returns the panic value when it is an error.
func (e *bugError) Unwrap() error {
	err, _ := e.value.(error)
	return err
}
