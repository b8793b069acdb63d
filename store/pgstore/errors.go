package pgstore

import "errors"

// ErrInvalidOptions is returned, wrapped with the name of the offending field,
// by [Open] and [New] when an [Options] field is malformed.
var ErrInvalidOptions = errors.New("pgstore: invalid options")

// ErrStatementTimeout is returned, wrapped with the server's error, when a
// statement ran longer than the server's statement_timeout, which
// [Options.StatementTimeout] sets. The statement had no effect.
var ErrStatementTimeout = errors.New("pgstore: statement timeout")

// commitError is a failure while committing, when the outcome is unknown.
type commitError struct{ err error }

func (e *commitError) Error() string { return "commit: " + e.err.Error() }
func (e *commitError) Unwrap() error { return e.err }
