package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/storetest"
)

type opKind int

const (
	opQuery opKind = iota
	opExport
	opHTTPExport
)

// readOp is one read workload: a query shape of (d), or an export of (e).
type readOp struct {
	id    string // short, for -profile: "query:day", "export", "export-http"
	title string
	kind  opKind
	query auditevents.Query
}

// fingerprint is what a read returned, to compare stores: the IDs in order
// for a query, a SHA-256 of the bytes for an export.
type fingerprint struct {
	rows int
	ids  []string
	sum  string
}

// diff describes how got differs from f, or returns "".
func (f fingerprint) diff(got fingerprint) string {
	if f.rows != got.rows {
		return fmt.Sprintf("%d events, want %d", got.rows, f.rows)
	}
	for i := range f.ids {
		if f.ids[i] != got.ids[i] {
			return fmt.Sprintf("event %d is %s, want %s", i, got.ids[i], f.ids[i])
		}
	}
	if f.sum != got.sum {
		return fmt.Sprintf("export bytes differ: sha256 %s, want %s", got.sum, f.sum)
	}
	return ""
}

// run runs the read once on s and returns how many events it returned;
// when fp is true, also what it returned.
func (op readOp) run(ctx context.Context, s Subject, fp bool) (int, fingerprint, error) {
	var f fingerprint
	var w io.Writer = io.Discard
	var h hash.Hash
	if fp {
		h = sha256.New()
		w = h
	}
	var err error
	switch op.kind {
	case opQuery:
		for e, qerr := range s.Query(ctx, op.query) {
			if qerr != nil {
				err = qerr
				break
			}
			f.rows++
			if fp {
				f.ids = append(f.ids, e.ID)
			}
		}
	case opExport:
		f.rows, err = auditevents.WriteCSV(w, s.Query(ctx, op.query), nil)
	case opHTTPExport:
		f.rows, err = httpExport(ctx, s, w)
	}
	if h != nil {
		f.sum = hex.EncodeToString(h.Sum(nil))
	}
	return f.rows, f, err
}

// readOps returns the query shapes of (d), storetest.QueryShapes, the ones
// storetest.RunBenchmarks measures, their parameters picked from the data;
// and the exports of (e).
func readOps(data []auditevents.AuditEvent) []readOp {
	var ops []readOp
	for _, shape := range storetest.QueryShapes(data) {
		ops = append(ops, readOp{id: "query:" + shape.Name, title: shape.Title, query: shape.Query})
	}
	return append(ops,
		readOp{id: "export", title: "full CSV export through the Store and the CSV writer", kind: opExport},
		readOp{id: "export-http", title: "full CSV export through the HTTP handler over loopback", kind: opHTTPExport},
	)
}

// describe returns the parameters of a query shape, for the tables.
func (op readOp) describe() string {
	q := op.query
	var parts []string
	if q.Account != nil {
		parts = append(parts, fmt.Sprintf("account=%q", *q.Account))
	}
	if q.User != "" {
		parts = append(parts, "user="+q.User)
	}
	if q.Configuration != "" {
		parts = append(parts, "configuration="+q.Configuration)
	}
	if !q.Since.IsZero() {
		parts = append(parts, "since "+q.Since.Format(time.DateTime))
	}
	if !q.Before.IsZero() {
		parts = append(parts, "before "+q.Before.Format(time.DateTime))
	}
	if q.Limit > 0 {
		parts = append(parts, fmt.Sprintf("limit %d", q.Limit))
	}
	if !q.After.IsZero() {
		parts = append(parts, "after the event at the middle of the data")
	}
	if len(parts) == 0 {
		return "every event"
	}
	out := parts[0]
	for _, p := range parts[1:] {
		out += ", " + p
	}
	return out
}
