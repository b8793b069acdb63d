package auditevents

import (
	"errors"
	"fmt"
	"strconv"
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
