package pgstore

import "errors"

// ErrInvalidOptions is returned, wrapped with the name of the offending field,
// by [Open] and [New] when an [Options] field is malformed.
var ErrInvalidOptions = errors.New("pgstore: invalid options")

// ErrStatementTimeout is returned, wrapped with the server's error, when a
// statement ran longer than the server's statement_timeout, which
// [Options.StatementTimeout] sets. The statement had no effect.
var ErrStatementTimeout = errors.New("pgstore: statement timeout")

// ErrInconsistent is returned, wrapped with what does not agree, when the
// store's tables do not hold what the store wrote: an Append finds the
// log's head rows or tree tiles otherwise than its last commit left them,
// or a sequence or tree hash already taken; a read of the tree's hashes
// finds one missing. PostgreSQL keeps each table sound, so the tables were
// changed outside the store (with SQL, or by restoring some of them from an
// older dump). The failed Append writes nothing: it does not extend a tree
// that no longer matches the events. [auditevents.Verify], against a
// checkpoint signed before the change, names what changed.
//
// It does not wrap [auditevents.ErrTampered], which is Verify's verdict
// against signed checkpoints: the store holds no checkpoint, and a partial
// restore is not an attack. It is what boltstore's ErrCorrupt is for a
// file.
var ErrInconsistent = errors.New("pgstore: the log's tables are inconsistent")

// commitError is a failure while committing, when the outcome is unknown.
type commitError struct{ err error }

func (e *commitError) Error() string { return "commit: " + e.err.Error() }
func (e *commitError) Unwrap() error { return e.err }
