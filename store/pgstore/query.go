package pgstore

import (
	"context"
	"iter"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/auditevents/auditevents"
)

// Query streams the events that match q, newest first, as
// [auditevents.Store] describes.
//
// It reads in pages of Options.PageSize events, each one statement that
// continues from the last event of the page before by keyset, (ts, id) <
// (last ts, last id), on the index that suits q's filters. A connection is
// held only while a page is read, never while the loop's body runs, so the
// body may call the store. Events appended during the query are seen when
// they fall after its current position, as with any other store.
func (s *Store) Query(ctx context.Context, q auditevents.Query) iter.Seq2[auditevents.AuditEvent, error] {
	return auditevents.QueryChunks(ctx, q, s.opt.PageSize, func(q *auditevents.Query) (auditevents.ChunkFunc, func()) {
		p, ok := s.plan(q)
		return func(buf []auditevents.AuditEvent, want int) ([]auditevents.AuditEvent, bool, error) {
			if s.closed.Load() {
				return buf, true, auditevents.ErrClosed
			}
			if !ok {
				return buf, true, nil // no stored event can match
			}
			page, err := s.readPage(ctx, &p, want, buf)
			if err != nil || len(page) < want {
				return page, true, err
			}
			last := page[len(page)-1]
			p.after = &auditevents.Cursor{Timestamp: last.Timestamp, ID: last.ID}
			return page, false, nil
		}, nil
	})
}

// queryPlan is a query turned into SQL conditions and their arguments; after
// is the keyset position, nil before the first page of a query without a
// cursor.
type queryPlan struct {
	where []string
	args  []any
	after *auditevents.Cursor
}

// plan turns q's filters into SQL conditions. It returns ok false when no
// stored event can match, such as a range that ends before year 1.
//
// Timestamps are stored to the microsecond and q's bounds may be finer, so
// bounds are rounded such that the SQL comparison selects exactly the events
// q.Matches accepts; bounds outside the years 1 to 9999, which no stored
// event reaches, are dropped or end the query.
func (s *Store) plan(q *auditevents.Query) (queryPlan, bool) {
	var p queryPlan
	// PostgreSQL refuses text that is not UTF-8 or holds a NUL byte; no
	// stored event holds such text, so such a filter matches nothing.
	for _, v := range []string{q.User, q.Configuration, q.ResourceName, string(q.Action), string(q.ResourceKind), q.RequestID} {
		if !storable(v) {
			return p, false
		}
	}
	if q.Account != nil && !storable(*q.Account) {
		return p, false
	}
	cond := func(sql string, arg any) {
		p.args = append(p.args, arg)
		p.where = append(p.where, strings.ReplaceAll(sql, "?", "$"+strconv.Itoa(len(p.args))))
	}
	if q.Account != nil {
		cond("account = ?", *q.Account)
	}
	if q.User != "" {
		cond("user_name = ?", q.User)
	}
	if q.Configuration != "" {
		name, version := auditevents.SplitConfiguration(q.Configuration)
		cond("configuration_name = ?", name)
		if version != "" {
			cond("configuration = ?", q.Configuration)
		}
	}
	if q.ResourceKind != "" {
		cond("resource_kind = ?", string(q.ResourceKind))
	}
	if q.ResourceName != "" {
		cond("resource_name = ?", q.ResourceName)
	}
	if q.Action != "" {
		cond("action = ?", string(q.Action))
	}
	if q.RequestID != "" {
		cond("request_id = ?", q.RequestID)
	}
	if q.IPAddress.IsValid() {
		// Both on the partial index of addresses: one address is an
		// equality, which reads its events in (ts, id) order; a network a
		// range (<<= is "within or equal", which PostgreSQL turns into a
		// range of the btree). An IPv4 network holds no IPv6 address, as
		// Query.Matches says.
		if q.IPAddress.IsSingleIP() {
			cond("ip_address = ?::inet", q.IPAddress.Addr().String())
		} else {
			cond("ip_address <<= ?::inet", q.IPAddress.String())
		}
	}
	since, before, after := q.MicroRange()
	if !since.IsZero() {
		switch {
		case !since.Before(maxTime):
			return p, false
		case since.After(minTime):
			cond("ts >= ?", since)
		}
	}
	if !before.IsZero() {
		switch {
		case !before.After(minTime):
			return p, false
		case before.Before(maxTime):
			cond("ts < ?", before)
		}
	}
	if !after.IsZero() {
		// Events before the cursor in result order: (ts, id) < cursor.
		switch {
		case after.Timestamp.Before(minTime):
			return p, false
		case !after.Timestamp.Before(maxTime):
			// every stored event comes before it
		default:
			p.after = &after
		}
	}
	return p, true
}

// storable reports whether PostgreSQL can hold s as text.
func storable(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// readPage runs one page of a query: at most limit events after p.after,
// appended to buf. It holds a connection only while it reads.
func (s *Store) readPage(ctx context.Context, p *queryPlan, limit int, buf []auditevents.AuditEvent) ([]auditevents.AuditEvent, error) {
	sql, args := s.pageSQL(p, limit)
	start := len(buf)
	err := s.retry(ctx, func() error {
		buf = buf[:start]
		var err error
		buf, err = s.readRows(ctx, sql, args, buf)
		return err
	})
	if err != nil {
		return buf, s.wrap(ctx, "query", err)
	}
	return buf, nil
}

// readRows runs one page's statement and appends its events to buf.
func (s *Store) readRows(ctx context.Context, sql string, args []any, buf []auditevents.AuditEvent) ([]auditevents.AuditEvent, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return buf, err
	}
	return scanEvents(rows, buf)
}

// pageSQL returns the statement that reads one page of p, and its arguments.
func (s *Store) pageSQL(p *queryPlan, limit int) (string, []any) {
	where, args := p.where, p.args
	if p.after != nil {
		n := len(args)
		where = append(where[:len(where):len(where)], "(ts, id) < ($"+strconv.Itoa(n+1)+", $"+strconv.Itoa(n+2)+")")
		args = append(args[:n:n], p.after.Timestamp, p.after.ID)
	}
	var sql strings.Builder
	sql.WriteString("SELECT " + eventColumns + " FROM " + s.sql.table)
	for i, w := range where {
		if i == 0 {
			sql.WriteString(" WHERE ")
		} else {
			sql.WriteString(" AND ")
		}
		sql.WriteString(w)
	}
	sql.WriteString(" ORDER BY ts DESC, id DESC LIMIT " + strconv.Itoa(limit))
	return sql.String(), args
}
