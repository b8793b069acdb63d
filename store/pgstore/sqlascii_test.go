package pgstore

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/storetest"
)

// Open accepts a SQL_ASCII database, so metadata beyond ASCII must reach it
// as UTF-8 bytes: jsonb refuses a \u escape of such a character (U+2028,
// say) in a database that is not UTF8, and with it the whole batch.
func TestSQLASCIIMetadata(t *testing.T) {
	dsn, admin := testServer(t)
	ctx := context.Background()
	_, _ = admin.Exec(ctx, `DROP DATABASE IF EXISTS auditevents_ascii`)
	if _, err := admin.Exec(ctx, `CREATE DATABASE auditevents_ascii ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.Exec(ctx, `DROP DATABASE IF EXISTS auditevents_ascii WITH (FORCE)`) })
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/auditevents_ascii"
	s, err := Open(ctx, u.String(), &Options{Schema: "ascii"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	e := storetest.NewGenerator(3).Event(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	e.Metadata = map[string]string{"note": asciiNote}
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, e); err != nil {
		t.Fatalf("Append of a valid event to a SQL_ASCII database: %v", err)
	}
	got, err := auditevents.Collect(s.Query(ctx, auditevents.Query{}))
	if err != nil || len(got) != 1 || got[0].Metadata["note"] != asciiNote {
		t.Fatalf("got %+v, %v", got, err)
	}
}

var asciiNote = "line\u2028sep \u00e9\t\"q\" \\ <&>"
