package forward

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/encode"
)

// Limits on what a [Webhook] reads of a response and keeps for reuse.
const (
	// maxDrainBytes is how much of a response body is read, so the
	// connection can be reused; a longer body is abandoned and the
	// connection closed.
	maxDrainBytes = 64 << 10
	// maxErrorBodyBytes is how much of a failed response's body a
	// [StatusError] repeats.
	maxErrorBodyBytes = 512
	// maxPooledBytes bounds the request buffers kept for reuse.
	maxPooledBytes = 4 << 20
)

// DefaultWebhookTimeout bounds one request of a [Webhook] whose options give
// no http.Client.
const DefaultWebhookTimeout = 30 * time.Second

// WebhookOptions configures a [Webhook]. The zero value, like a nil
// *WebhookOptions, means the defaults given for each field.
type WebhookOptions struct {
	// Encoder writes the body of each request. Nil means
	// [encode.JSONLines]: one event per line, application/x-ndjson. Use
	// [encode.CloudEvents] to send CloudEvents in batched content mode (a
	// JSON array, application/cloudevents-batch+json).
	Encoder encode.Encoder
	// Secret is the key of the HMAC-SHA256 signature sent in
	// [SignatureHeader], shared with the receiver, which checks it with
	// [VerifySignature]. Use at least 32 random bytes. Empty sends no
	// signature: the receiver then cannot tell the events are authentic.
	Secret []byte
	// Header holds extra headers sent with every request, such as
	// Authorization. They cannot replace Content-Type or the signature.
	Header http.Header
	// Client sends the requests. Nil means a client with a timeout of
	// DefaultWebhookTimeout. Its redirects are followed as it decides;
	// the body is resent on 307 and 308.
	Client *http.Client
	// Now returns the time of the signature. Nil means time.Now; tests
	// set it.
	Now func() time.Time
}

// Webhook is a [Sink] that POSTs each batch to an HTTP endpoint, encoded by
// its [encode.Encoder], with a [SignatureHeader] when it has a secret.
//
// A 2xx response acknowledges the batch. A 4xx response other than 408
// Request Timeout and 429 Too Many Requests is permanent (a
// [*PermanentError] wrapping a [*StatusError]): the receiver refuses this
// batch and will refuse it again. Every other outcome (408, 429, 5xx, a
// redirect not followed, a network failure) is worth retrying; when the
// response carries a Retry-After header (in seconds or as an HTTP date) the
// error wraps a [*RetryError] with that delay. At most 64 KiB of a response
// body is read.
//
// A Webhook is safe for concurrent use.
type Webhook struct {
	url     string
	enc     encode.Encoder
	secret  []byte
	header  http.Header
	client  *http.Client
	now     func() time.Time
	bufPool sync.Pool
}

var _ Sink = (*Webhook)(nil)

// NewWebhook returns a Webhook that POSTs to rawURL, an absolute http or
// https URL. opts may be nil. It returns an error wrapping
// [ErrInvalidOptions] when rawURL is not such a URL.
func NewWebhook(rawURL string, opts *WebhookOptions) (*Webhook, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: webhook URL %q: expected an absolute http or https URL", ErrInvalidOptions, rawURL)
	}
	if opts == nil {
		opts = &WebhookOptions{}
	}
	w := &Webhook{
		url:    u.String(),
		enc:    opts.Encoder,
		secret: bytes.Clone(opts.Secret),
		header: opts.Header.Clone(),
		client: opts.Client,
		now:    opts.Now,
	}
	if w.enc == nil {
		w.enc = encode.JSONLines{}
	}
	if w.client == nil {
		w.client = &http.Client{Timeout: DefaultWebhookTimeout}
	}
	if w.now == nil {
		w.now = time.Now
	}
	return w, nil
}

// Send POSTs events as one request and classifies the outcome as the
// [Webhook] documents. Sending no events does nothing and returns nil.
func (w *Webhook) Send(ctx context.Context, events []auditevents.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	bufp, _ := w.bufPool.Get().(*[]byte)
	if bufp == nil {
		bufp = new([]byte)
	}
	body := w.enc.AppendBatch((*bufp)[:0], events)
	defer func() {
		if cap(body) <= maxPooledBytes { // a huge batch's buffer is left to the collector
			*bufp = body
			w.bufPool.Put(bufp)
		}
	}()

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("forward: webhook request: %w", err)
	}
	for k, vs := range w.header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", w.enc.ContentType())
	if len(w.secret) > 0 {
		req.Header.Set(SignatureHeader, Sign(w.secret, w.now(), body))
	} else {
		req.Header.Del(SignatureHeader)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("forward: webhook POST %s: %w", w.url, ctxErr)
		}
		return fmt.Errorf("forward: webhook POST: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		io.CopyN(io.Discard, resp.Body, maxDrainBytes)
		return nil
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBodyBytes))
	io.CopyN(io.Discard, resp.Body, maxDrainBytes-int64(len(snippet)))
	return ClassifyHTTP(resp.StatusCode, resp.Header.Get("Retry-After"), &StatusError{StatusCode: resp.StatusCode, Body: string(snippet)}, w.now())
}

// ClassifyHTTP returns err marked as HTTP sinks in this module mark the
// failure of a request that got a response with a status other than 2xx:
// wrapped in a [*PermanentError] for a 4xx status other than 408 Request
// Timeout and 429 Too Many Requests, in a [*RetryError] when retryAfter (the
// response's Retry-After header, in seconds or as an HTTP date, relative to
// now) gives a delay, and unchanged otherwise. A delay is capped at 24 hours,
// so a receiver's typo cannot stop a sink for years. A host's own HTTP sink
// can use it to behave as [Webhook] does.
func ClassifyHTTP(statusCode int, retryAfter string, err error, now time.Time) error {
	if statusCode >= 400 && statusCode < 500 && statusCode != http.StatusRequestTimeout && statusCode != http.StatusTooManyRequests {
		return Permanent(err)
	}
	if after, ok := parseRetryAfter(retryAfter, now); ok {
		return &RetryError{Err: err, After: after}
	}
	return err
}

// parseRetryAfter reads a Retry-After header (RFC 9110, section 10.2.3): a
// number of seconds or an HTTP date. A date in the past is a delay of zero.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return min(max(t.Sub(now), 0), maxRetryAfter), true
}

// maxRetryAfter caps the delay a receiver can ask for, so a typo in its
// Retry-After cannot stop forwarding for years.
const maxRetryAfter = 24 * time.Hour
