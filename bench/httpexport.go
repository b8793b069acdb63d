package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/auditevents/auditevents/httpapi"
)

// httpAvailable says whether this build has the HTTP handler to export
// through.
const httpAvailable = true

// loopback is one HTTP server on 127.0.0.1 for the whole run; each export
// points it at the store being measured.
var loopback struct {
	once    sync.Once
	addr    string
	err     error
	handler atomic.Pointer[http.Handler]
	client  *http.Client
}

// httpExport downloads every event of s as CSV through httpapi's handler
// over loopback, writes the body to w, and returns the number of rows.
func httpExport(ctx context.Context, s Subject, w io.Writer) (int, error) {
	loopback.once.Do(func() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			loopback.err = err
			return
		}
		loopback.addr = ln.Addr().String()
		loopback.client = &http.Client{Transport: &http.Transport{DisableCompression: true}}
		go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			(*loopback.handler.Load()).ServeHTTP(w, r)
		}))
	})
	if loopback.err != nil {
		return 0, fmt.Errorf("listening on loopback: %w", loopback.err)
	}
	h, err := httpapi.New(s, nil)
	if err != nil {
		return 0, err
	}
	var handler http.Handler = h.Download()
	loopback.handler.Store(&handler)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+loopback.addr+httpapi.DefaultPrefix+httpapi.DownloadPath, nil)
	if err != nil {
		return 0, err
	}
	resp, err := loopback.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return 0, fmt.Errorf("download: %s: %s", resp.Status, body)
	}
	lines := &lineCounter{w: w}
	if _, err := io.Copy(lines, resp.Body); err != nil {
		return 0, fmt.Errorf("download: %w", err)
	}
	return lines.n - 1, nil // the header is not a row
}

// lineCounter counts the CRLFs that end CSV records (a line break inside a
// quoted cell is a bare LF in the generated data) while passing bytes on.
type lineCounter struct {
	w    io.Writer
	n    int
	last byte
}

func (c *lineCounter) Write(p []byte) (int, error) {
	if len(p) > 0 {
		if c.last == '\r' && p[0] == '\n' {
			c.n++
		}
		c.n += bytes.Count(p, []byte("\r\n"))
		c.last = p[len(p)-1]
	}
	return c.w.Write(p)
}
