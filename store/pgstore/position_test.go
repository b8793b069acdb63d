package pgstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
)

// Positions live in the database: a store opened again, and a store on
// another pool (another replica), read what one stored, and each replica's
// writes are the other's reads.
func TestPositionsAcrossReopenAndPools(t *testing.T) {
	ctx := context.Background()
	dsn, _ := testServer(t)
	schema := freshSchema(t)
	open := func() *Store {
		t.Helper()
		s, err := Open(ctx, dsn, &Options{Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a := open()
	if err := a.Append(ctx, events(1, time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), 30)...); err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		consumer, account string
		pos               int64
	}{{"webhook", "acme", 10}, {"webhook", "", 3}, {"otlp", "acme", 7}} {
		if err := a.SetPosition(ctx, p.consumer, p.account, p.pos); err != nil {
			t.Fatal(err)
		}
	}
	want := func(s *Store, consumer, account string, pos int64) {
		t.Helper()
		if got, err := s.Position(ctx, consumer, account); got != pos || err != nil {
			t.Errorf("Position(%q, %q) = %d, %v; want %d", consumer, account, got, err, pos)
		}
	}
	b := open() // another pool, as another replica has
	want(b, "webhook", "acme", 10)
	want(b, "webhook", "", 3)
	want(b, "otlp", "acme", 7)
	if err := b.SetPosition(ctx, "webhook", "acme", 4); err != nil {
		t.Fatal(err)
	}
	want(a, "webhook", "acme", 4)

	a.Close()
	b.Close()
	c := open() // after a restart
	want(c, "webhook", "acme", 4)
	want(c, "otlp", "acme", 7)
	want(c, "webhook", "globex", 0)
	var qe *auditevents.QueryError
	if err := c.SetPosition(ctx, "webhook", "acme", 11); !errors.As(err, &qe) || qe.Param != "position" {
		t.Errorf("SetPosition beyond the tree = %v, want a QueryError for position", err)
	}
	if err := c.SetPosition(ctx, "webhook", "bad\x00account", 1); !errors.As(err, &qe) || qe.Param != "position" {
		t.Errorf("SetPosition in an account no event can have = %v, want a QueryError for position", err)
	}
	if err := c.SetPosition(ctx, "webhook", "bad\x00account", 0); err != nil {
		t.Errorf("SetPosition of 0 in an account no event can have = %v, want nil", err)
	}
}

// A table made before positions gains their table when a store opens it,
// by migration 3.
func TestPositionsMigration(t *testing.T) {
	ctx := context.Background()
	dsn, _ := testServer(t)
	schema := freshSchema(t)
	s, err := Open(ctx, dsn, &Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, events(2, time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), 9)...); err != nil {
		t.Fatal(err)
	}
	s.Close()
	backToSchema(t, schema, 2)
	s, err = Open(ctx, dsn, &Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.Position(ctx, "webhook", "acme"); got != 0 || err != nil {
		t.Fatalf("Position after the migration = %d, %v; want 0", got, err)
	}
	if err := s.SetPosition(ctx, "webhook", "acme", 3); err != nil {
		t.Fatal(err)
	}
	if got := collect(t, s, auditevents.Query{}); len(got) != 9 {
		t.Errorf("%d events after the migration, want 9", len(got))
	}
}
