package forward

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ErrInvalidSignature is returned, wrapped in a [*SignatureError], by
// [VerifySignature] when a webhook request's signature is missing, malformed,
// does not match its body, or is outside the tolerated age.
var ErrInvalidSignature = errors.New("forward: invalid webhook signature")

// ErrInvalidOptions is returned, wrapped with the offending option, by a
// constructor given an option it cannot use, such as a webhook URL that is
// not absolute http or https.
var ErrInvalidOptions = errors.New("forward: invalid options")

// ErrRunning is returned by [Forwarder.Run] when the Forwarder is already
// running.
var ErrRunning = errors.New("forward: forwarder is already running")

// PermanentError marks a failure that sending the same batch again cannot
// fix, such as a webhook answering 400 Bad Request or 401 Unauthorized. A
// sink returns it, possibly wrapped; [IsPermanent] finds it.
type PermanentError struct {
	// Err is the failure.
	Err error
}

// Permanent returns err wrapped in a [*PermanentError], or nil when err is
// nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// Error returns the message of Err, marked as permanent.
func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }

// Unwrap returns Err.
func (e *PermanentError) Unwrap() error { return e.Err }

// IsPermanent reports whether err wraps a [*PermanentError].
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// RetryError is a failure that a later attempt may not have, together with
// how long the receiver asked to wait before it, such as a webhook's 429 Too
// Many Requests with a Retry-After header. [RetryAfter] finds it.
type RetryError struct {
	// Err is the failure.
	Err error
	// After is how long to wait before sending again; never negative.
	After time.Duration
}

// Error returns the message of Err and the delay asked for.
func (e *RetryError) Error() string {
	return e.Err.Error() + " (retry after " + e.After.String() + ")"
}

// Unwrap returns Err.
func (e *RetryError) Unwrap() error { return e.Err }

// RetryAfter returns the delay of the [*RetryError] that err wraps, and
// whether there is one.
func RetryAfter(err error) (time.Duration, bool) {
	var r *RetryError
	if errors.As(err, &r) {
		return r.After, true
	}
	return 0, false
}

// StatusError reports a webhook response whose status is not 2xx. The sink
// wraps it in a [*PermanentError] for a 4xx status other than 408 and 429,
// and in a [*RetryError] when the response said when to retry.
type StatusError struct {
	// StatusCode is the response's status code, such as 503.
	StatusCode int
	// Body is the start of the response body (at most 512 bytes), for the
	// host's logs.
	Body string
}

// Error names the status and quotes the start of the body.
func (e *StatusError) Error() string {
	msg := "forward: webhook answered " + strconv.Itoa(e.StatusCode)
	if e.Body != "" {
		msg += ": " + strconv.Quote(e.Body)
	}
	return msg
}

// SignatureError says why [VerifySignature] refused a request. It unwraps to
// [ErrInvalidSignature].
type SignatureError struct {
	// Reason says what was wrong, such as "timestamp outside the
	// tolerance".
	Reason string
}

// Error returns the reason, prefixed with the sentinel's message.
func (e *SignatureError) Error() string {
	return fmt.Sprintf("%v: %s", ErrInvalidSignature, e.Reason)
}

// Unwrap returns [ErrInvalidSignature].
func (e *SignatureError) Unwrap() error { return ErrInvalidSignature }
