package pgstore

import (
	"context"
	"iter"
	"strconv"
	"strings"
	"time"
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
	return func(yield func(auditevents.AuditEvent, error) bool) {
		if err := q.Validate(); err != nil {
			yield(auditevents.AuditEvent{}, err)
			return
		}
		p, ok := s.plan(&q)
		if !ok {
			if err := ctx.Err(); err != nil {
				yield(auditevents.AuditEvent{}, err)
			} else if s.closed.Load() {
				yield(auditevents.AuditEvent{}, auditevents.ErrClosed)
			}
			return // no stored event can match
		}
		size := s.opt.PageSize
		if q.Limit > 0 {
			size = min(size, q.Limit)
		}
		page := make([]auditevents.AuditEvent, 0, size)
		sent := 0
		for {
			if err := ctx.Err(); err != nil {
				yield(auditevents.AuditEvent{}, err)
				return
			}
			if s.closed.Load() {
				yield(auditevents.AuditEvent{}, auditevents.ErrClosed)
				return
			}
			want := s.opt.PageSize
			if q.Limit > 0 {
				want = min(want, q.Limit-sent)
			}
			var err error
			page, err = s.readPage(ctx, &p, want, page[:0])
			if err != nil {
				yield(auditevents.AuditEvent{}, err)
				return
			}
			for _, e := range page {
				if !yield(e, nil) {
					return
				}
			}
			sent += len(page)
			if len(page) < want || (q.Limit > 0 && sent >= q.Limit) {
				return
			}
			last := page[len(page)-1]
			p.after = &auditevents.Cursor{Timestamp: last.Timestamp, ID: last.ID}
		}
	}
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
	for _, v := range []string{q.User, q.Configuration, q.ResourceName, string(q.Action), string(q.ResourceKind)} {
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
	if !q.Since.IsZero() {
		since := q.Since.UTC()
		switch {
		case !since.Before(maxTime):
			return p, false
		case since.After(minTime):
			cond("ts >= ?", ceilMicro(since))
		}
	}
	if !q.Before.IsZero() {
		before, ok := upperBound(q.Before)
		if !ok {
			return p, false
		}
		if before.Before(maxTime) {
			cond("ts < ?", before)
		}
	}
	if !q.After.IsZero() {
		// Events before the cursor in result order: (ts, id) < cursor. A
		// cursor finer than a microsecond falls between stored timestamps,
		// so every event at its truncated microsecond comes before it.
		c := q.After
		c.Timestamp = c.Timestamp.UTC()
		if t := c.Timestamp.Truncate(time.Microsecond); !t.Equal(c.Timestamp) {
			c = auditevents.Cursor{Timestamp: t.Add(time.Microsecond), ID: ""}
		}
		switch {
		case c.Timestamp.Before(minTime):
			return p, false
		case !c.Timestamp.Before(maxTime):
			// every stored event comes before it
		default:
			p.after = &c
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
