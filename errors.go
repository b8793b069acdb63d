package auditevents

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrInvalidEvent is returned, wrapped in an [*EventError], when an event
// cannot be stored because one of its fields is missing or malformed.
var ErrInvalidEvent = errors.New("auditevents: invalid event")

// ErrInvalidQuery is returned, wrapped in a [*QueryError], when a query
// parameter or a [Query] field is malformed. The HTTP layer maps it to
// 400 Bad Request.
var ErrInvalidQuery = errors.New("auditevents: invalid query")

// ErrDuplicateID is returned by [Store.Append] when an event's ID is already
// stored, or appears twice in the same batch. Nothing of that batch is stored.
var ErrDuplicateID = errors.New("auditevents: duplicate event id")

// errDate is returned by parseDate for a date in none of the accepted forms;
// ParseDate and ParseQuery report it as a [*QueryError].
var errDate = errors.New("malformed date")

// ErrUnknownKind is returned by [ParseKind] and by the text and JSON
// unmarshalling of [Kind] when a name is not one of [Kinds].
var ErrUnknownKind = errors.New("auditevents: unknown resource kind")

// ErrNotFound is returned by [Ledger.Lookup] when no stored event has the
// given ID.
var ErrNotFound = errors.New("auditevents: event not found")

// ErrHashUnavailable is returned, wrapped, by [Ledger.ReadHashes] of a store
// that keeps some of the tree's hashes only as the events they are computed
// from (store/boltstore keeps the leaves of a complete tile of 16 sequences
// that way), when those events were changed or removed outside the store, so
// that the signed hash cannot be computed again. The hashes that the store
// keeps stay readable: [Verify] then reads the hash of the smallest subtree
// around the damage that the store can give.
var ErrHashUnavailable = errors.New("auditevents: stored hash cannot be recomputed")

// ErrCheckpoint is returned, wrapped with what was wrong, when a checkpoint
// cannot be used: it is malformed, its signature does not verify with the
// given key, or it names another log than the one expected.
var ErrCheckpoint = errors.New("auditevents: bad checkpoint")

// ErrTampered is returned, wrapped in a [*TamperError], by [Verify] when a
// log does not match its signed checkpoints.
var ErrTampered = errors.New("auditevents: log does not verify")

// EntryError is yielded by [Ledger.Entries] when the store cannot read the
// event at a sequence: the stored event fails the store's own checks (a
// checksum, say), as it does when its bytes were changed. It names the
// sequence, so that [Verify] reports it as modified and reads on from the
// next one.
type EntryError struct {
	// Seq is the sequence whose event cannot be read.
	Seq int64
	// Err is the store's error.
	Err error
}

// Error names the sequence and the store's error.
func (e *EntryError) Error() string {
	return fmt.Sprintf("auditevents: reading the event at sequence %d: %v", e.Seq, e.Err)
}

// Unwrap returns the store's error.
func (e *EntryError) Unwrap() error { return e.Err }

// ErrClosed is returned by a [Store] used after Close.
var ErrClosed = errors.New("auditevents: store is closed")

// maxQuoted bounds how much of a rejected value an error message repeats, so
// that hostile input cannot make error messages (and the HTTP responses that
// carry them) arbitrarily large.
const maxQuoted = 64

// quote returns v quoted with Go syntax, cut to maxQuoted bytes (on a rune
// boundary) with a trailing ellipsis when longer.
func quote(v string) string {
	if len(v) <= maxQuoted {
		return strconv.Quote(v)
	}
	cut := maxQuoted
	for cut > 0 && v[cut]&0xC0 == 0x80 { // do not split a UTF-8 sequence
		cut--
	}
	return strconv.Quote(v[:cut]) + "…"
}

// EventError reports an event that failed validation. It unwraps to
// [ErrInvalidEvent].
type EventError struct {
	// Index is the position of the event in the batch passed to Append
	// or [PrepareBatch]; 0 for a single event.
	Index int
	// Field is the JSON name of the offending field, such as "user".
	Field string
	// Value is the rejected value, as given.
	Value string
	// Reason says what was expected, such as "must not be empty".
	Reason string
}

// Error names the event's index, the field, the value (cut to a safe length)
// and what was expected.
func (e *EventError) Error() string {
	return fmt.Sprintf("auditevents: invalid event %d: %s %s: %s", e.Index, e.Field, quote(e.Value), e.Reason)
}

// Unwrap returns [ErrInvalidEvent].
func (e *EventError) Unwrap() error { return ErrInvalidEvent }

// QueryError reports a malformed query parameter or [Query] field. It unwraps
// to [ErrInvalidQuery]. Its message names the parameter, repeats the value (cut
// to a safe length) and says what is accepted, so it can be shown to an API
// client as it is.
type QueryError struct {
	// Param is the name of the URL parameter, such as "min-date", also
	// when the Query was built in Go ("limit" for Query.Limit, "min-date"
	// for Since and Before, "cursor" for After); "parameter" for an
	// unknown parameter, whose name is then the Value.
	Param string
	// Value is the rejected value, as given.
	Value string
	// Reason says what is accepted.
	Reason string
}

// Error names the parameter, the value (cut to a safe length) and what is
// accepted. It carries no package prefix, so it can be shown to an API client
// as it is.
func (e *QueryError) Error() string {
	return fmt.Sprintf("invalid %s %s: %s", e.Param, quote(e.Value), e.Reason)
}

// Unwrap returns [ErrInvalidQuery].
func (e *QueryError) Unwrap() error { return ErrInvalidQuery }

// DuplicateIDError reports an event whose ID is already stored, or appears
// twice in one batch. It unwraps to [ErrDuplicateID]. Every store in this
// module returns it from Append, and [PrepareBatch] returns it for a batch
// that repeats an ID.
type DuplicateIDError struct {
	// ID is the duplicate ID, in canonical upper case.
	ID string
}

// Error names the duplicate ID (cut to a safe length).
func (e *DuplicateIDError) Error() string { return ErrDuplicateID.Error() + " " + quote(e.ID) }

// Unwrap returns [ErrDuplicateID].
func (e *DuplicateIDError) Unwrap() error { return ErrDuplicateID }

// TamperError is returned by [Verify] when a log does not match its signed
// checkpoints. It lists every problem found, in sequence order, and unwraps
// to [ErrTampered].
type TamperError struct {
	// Problems is every problem found, in sequence order; never empty.
	Problems []Problem
}

// Error lists the problems, one a line after the first.
func (e *TamperError) Error() string {
	var b strings.Builder
	b.WriteString(ErrTampered.Error())
	for _, p := range e.Problems {
		b.WriteString("\n\t")
		b.WriteString(p.String())
	}
	return b.String()
}

// Unwrap returns [ErrTampered].
func (e *TamperError) Unwrap() error { return ErrTampered }
