package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"

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
}

var _ auditevents.LogReader = (*LogClient)(nil)

// get sends a GET for path with the query and returns the response, or an
// error naming the status and the server's error message.
func (c *LogClient) get(ctx context.Context, path string, q url.Values) (*http.Response, error) {
	u := c.BaseURL + path
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
		if json.Unmarshal(body, &er) == nil && len(er.Errors) > 0 {
			return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, er.Errors[0])
		}
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return resp, nil
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
		for sc.Scan() {
			var line entryLine
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				yield(auditevents.Entry{}, fmt.Errorf("reading the log's entries: %w", err))
				return
			}
			e := auditevents.Entry{Seq: line.Seq, Pruned: line.Pruned}
			if line.Event != nil {
				e.Event = *line.Event
			}
			if !yield(e, nil) {
				return
			}
		}
		if err := sc.Err(); err != nil {
			yield(auditevents.Entry{}, fmt.Errorf("reading the log's entries: %w", err))
		}
	}
}

// ReadHashes reads stored hashes through the hashes endpoint, [MaxHashes]
// a request.
func (c *LogClient) ReadHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, 0, len(indexes))
	for len(indexes) > 0 {
		n := min(len(indexes), MaxHashes)
		q := url.Values{}
		for _, x := range indexes[:n] {
			q.Add("index", strconv.FormatInt(x, 10))
		}
		resp, err := c.get(ctx, HashesPath, q)
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
