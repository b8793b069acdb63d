package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/auditevents/auditevents"
	"golang.org/x/mod/sumdb/tlog"
)

// LogClient reads a server's verifiable log through the endpoints that
// [Options.Log] serves, for [auditevents.Verify]: it is an
// [auditevents.LogReader]. It is safe for concurrent use.
type LogClient struct {
	// BaseURL is the server's URL up to the prefix, such as
	// "https://example.com/v1".
	BaseURL string
	// Header is added to every request, such as an Authorization header
	// with an API key.
	Header http.Header
	// Client sends the requests; nil means http.DefaultClient.
	Client *http.Client
	// Account, when not empty, is sent as the "account" parameter of
	// every request: it names the account on a server without
	// Options.Authorize. A server with Authorize reads the account from
	// the credentials and refuses the parameter.
	Account string
}

var _ auditevents.LogReader = (*LogClient)(nil)

// maxHashesQuery bounds the query string of one request for hashes, well
// below the default Options.MaxQueryBytes.
const maxHashesQuery = 2048

// get sends a GET for path with the query and returns the response, or an
// error naming the status and the server's error message.
func (c *LogClient) get(ctx context.Context, path string, q url.Values) (*http.Response, error) {
	u := c.BaseURL + path
	if c.Account != "" {
		if q == nil {
			q = url.Values{}
		}
		q.Set("account", c.Account)
	}
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	for k, vs := range c.Header {
		req.Header[k] = vs
	}
	client := c.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		var er errorResponse
		msg := ""
		if json.Unmarshal(body, &er) == nil && len(er.Errors) > 0 {
			msg = er.Errors[0]
		}
		return nil, &statusError{path: path, status: resp.Status, code: resp.StatusCode, msg: msg}
	}
	return resp, nil
}

// statusError is a response other than 200, with the server's message.
type statusError struct {
	path, status string
	code         int
	msg          string
}

func (e *statusError) Error() string {
	if e.msg == "" {
		return fmt.Sprintf("GET %s: %s", e.path, e.status)
	}
	return fmt.Sprintf("GET %s: %s: %s", e.path, e.status, e.msg)
}

// Checkpoint returns the server's signed checkpoint of the caller's account
// now.
func (c *LogClient) Checkpoint(ctx context.Context) ([]byte, error) {
	resp, err := c.get(ctx, CheckpointPath, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, 64<<10))
}

// Entries streams the log from sequence from, as the entries endpoint
// sends it.
func (c *LogClient) Entries(ctx context.Context, from int64) iter.Seq2[auditevents.Entry, error] {
	return func(yield func(auditevents.Entry, error) bool) {
		resp, err := c.get(ctx, EntriesPath, url.Values{"from": {strconv.FormatInt(from, 10)}})
		if err != nil {
			yield(auditevents.Entry{}, err)
			return
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		lines := 0
		for sc.Scan() {
			e, err := decodeEntryLine(sc.Bytes())
			if err != nil {
				yield(auditevents.Entry{}, fmt.Errorf("reading the log's entries: %w", err))
				return
			}
			lines++
			if !yield(e, nil) {
				return
			}
		}
		if err := sc.Err(); err != nil {
			yield(auditevents.Entry{}, fmt.Errorf("reading the log's entries: %w", err))
			return
		}
		// A body that ends without the count trailer, or with another
		// count, was cut short on the way: it says nothing about the log.
		if got := resp.Trailer.Get(CountTrailer); got != strconv.Itoa(lines) {
			yield(auditevents.Entry{}, fmt.Errorf("reading the log's entries: the response ended after %d lines without its %s trailer (%q): it is incomplete", lines, CountTrailer, got))
		}
	}
}

// ReadHashes reads stored hashes through the hashes endpoint, [MaxHashes]
// a request. A 400 answer, which the server gives for an index beyond its
// tree, returns an [*auditevents.QueryError] for "index", as a store does,
// and a 409 answer, for a hash the server's store cannot compute again,
// an error wrapping [auditevents.ErrHashUnavailable].
func (c *LogClient) ReadHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, 0, len(indexes))
	for len(indexes) > 0 {
		// At most MaxHashes indexes, and a query short enough for a
		// server's default MaxQueryBytes.
		n, qlen := 0, 0
		q := url.Values{}
		for _, x := range indexes {
			v := strconv.FormatInt(x, 10)
			if n == MaxHashes || (n > 0 && qlen+len("&index=")+len(v) > maxHashesQuery) {
				break
			}
			q.Add("index", v)
			qlen += len("&index=") + len(v)
			n++
		}
		resp, err := c.get(ctx, HashesPath, q)
		var se *statusError
		if errors.As(err, &se) && se.code == http.StatusBadRequest && strings.HasPrefix(se.msg, "invalid index") {
			// An index beyond the server's tree, as a store says it.
			return nil, &auditevents.QueryError{Param: "index", Value: strconv.FormatInt(indexes[0], 10), Reason: se.Error()}
		}
		if errors.As(err, &se) && se.code == http.StatusConflict && strings.HasPrefix(se.msg, hashUnavailable) {
			// The server's store cannot compute a hash from its events.
			return nil, fmt.Errorf("%w: %w", auditevents.ErrHashUnavailable, err)
		}
		if err != nil {
			return nil, err
		}
		var hs []tlog.Hash
		err = json.NewDecoder(resp.Body).Decode(&hs)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("reading stored hashes: %w", err)
		}
		if len(hs) != n {
			return nil, fmt.Errorf("reading stored hashes: %d returned for %d indexes", len(hs), n)
		}
		out = append(out, hs...)
		indexes = indexes[n:]
	}
	return out, nil
}

// decodeEntryLine decodes a line of the entries endpoint. A line in the form
// the server writes (appendEntryLine), with no escape in its strings, is
// read by a direct scan, several times faster than encoding/json; any other
// line is decoded by encoding/json, with the same result.
func decodeEntryLine(line []byte) (auditevents.Entry, error) {
	if e, ok := scanEntryLine(line); ok {
		return e, nil
	}
	return jsonEntryLine(line)
}

// jsonEntryLine decodes a line of the entries endpoint with encoding/json
// alone.
func jsonEntryLine(line []byte) (auditevents.Entry, error) {
	var l entryLine
	if err := json.Unmarshal(line, &l); err != nil {
		return auditevents.Entry{}, err
	}
	e := auditevents.Entry{Seq: l.Seq, Pruned: l.Pruned}
	if l.Event != nil {
		e.Event = *l.Event
	}
	return e, nil
}

// scanEntryLine reads a line in the server's own form, or reports false.
func scanEntryLine(line []byte) (auditevents.Entry, bool) {
	sc := lineScanner{b: line, ok: true}
	var e auditevents.Entry
	sc.lit(`{"seq":`)
	e.Seq = sc.int()
	if sc.maybe(`,"pruned":`) {
		e.Pruned = sc.int()
		sc.lit("}")
		return e, sc.ok && len(sc.b) == 0 && e.Pruned > 0
	}
	ev := &e.Event
	sc.lit(`,"event":{"id":`)
	ev.ID = sc.str()
	sc.lit(`,"timestamp":`)
	ts := sc.str()
	sc.lit(`,"account":`)
	ev.Account = sc.str()
	sc.lit(`,"user":`)
	ev.User = sc.str()
	sc.lit(`,"action":`)
	ev.Action = auditevents.Action(sc.str())
	sc.lit(`,"resourceKind":`)
	kind := sc.str()
	sc.lit(`,"resourceName":`)
	ev.ResourceName = sc.str()
	sc.lit(`,"configuration":`)
	ev.Configuration = sc.str()
	sc.lit(`,"description":`)
	ev.Description = sc.str()
	sc.lit("}}")
	if !sc.ok || len(sc.b) != 0 {
		return e, false
	}
	var err error
	if ev.Timestamp, err = time.Parse(time.RFC3339Nano, ts); err != nil {
		return e, false
	}
	if ev.ResourceKind, err = auditevents.ParseKind(kind); err != nil {
		return e, false
	}
	return e, true
}

// lineScanner reads a line from its start; ok turns false at the first
// byte it does not expect, and stays false.
type lineScanner struct {
	b  []byte
	ok bool
}

// maybe consumes s if the line continues with it, and reports whether it
// did.
func (sc *lineScanner) maybe(s string) bool {
	if sc.ok && len(sc.b) >= len(s) && string(sc.b[:len(s)]) == s {
		sc.b = sc.b[len(s):]
		return true
	}
	return false
}

// lit consumes s, which must come next.
func (sc *lineScanner) lit(s string) {
	if !sc.maybe(s) {
		sc.ok = false
	}
}

// int consumes a non-negative decimal without leading zeros.
func (sc *lineScanner) int() int64 {
	i := 0
	for i < len(sc.b) && sc.b[i] >= '0' && sc.b[i] <= '9' {
		i++
	}
	if !sc.ok || i == 0 || i > 18 || (i > 1 && sc.b[0] == '0') {
		sc.ok = false
		return 0
	}
	n, _ := strconv.ParseInt(string(sc.b[:i]), 10, 64)
	sc.b = sc.b[i:]
	return n
}

// str consumes a JSON string without escapes or control characters, in
// valid UTF-8, and returns its content.
func (sc *lineScanner) str() string {
	if !sc.ok || len(sc.b) == 0 || sc.b[0] != '"' {
		sc.ok = false
		return ""
	}
	for i := 1; i < len(sc.b); i++ {
		c := sc.b[i]
		if c == '"' {
			s := sc.b[1:i]
			if !utf8.Valid(s) {
				break
			}
			sc.b = sc.b[i+1:]
			return string(s)
		}
		if c == '\\' || c < 0x20 {
			break
		}
	}
	sc.ok = false
	return ""
}
