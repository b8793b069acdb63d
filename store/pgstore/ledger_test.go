package pgstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/memstore"
	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/note"
)

// logKeys returns a signer and a verifier for checkpoints of the tests' log.
func logKeys(tb testing.TB) (note.Signer, note.Verifier) {
	tb.Helper()
	skey, vkey, err := auditevents.GenerateKey("pgstore-test")
	if err != nil {
		tb.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		tb.Fatal(err)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		tb.Fatal(err)
	}
	return signer, verifier
}

// checkpoint returns a signed checkpoint of the account's log as it is now.
func checkpoint(tb testing.TB, l auditevents.Ledger, signer note.Signer, account string) []byte {
	tb.Helper()
	msg, _, err := auditevents.MakeCheckpoint(context.Background(), l, "pgstore-test", account, signer)
	if err != nil {
		tb.Fatalf("MakeCheckpoint(%q): %v", account, err)
	}
	return msg
}

// verify runs auditevents.Verify on the account's log against cp and, when
// not nil, the earlier checkpoint prev.
func verify(s *Store, verifier note.Verifier, account string, cp, prev []byte) (*auditevents.Report, error) {
	return auditevents.Verify(context.Background(), auditevents.AccountLog(s, account), auditevents.VerifyOptions{
		Verifier: verifier, Checkpoint: cp, Previous: prev,
	})
}

// verifyAll is verify that also checks that every event the store holds in
// the account is in the log (VerifyOptions.Events).
func verifyAll(s *Store, verifier note.Verifier, account string, cp []byte) (*auditevents.Report, error) {
	ctx := context.Background()
	return auditevents.Verify(ctx, auditevents.AccountLog(s, account), auditevents.VerifyOptions{
		Verifier: verifier, Checkpoint: cp,
		Events: s.Query(ctx, auditevents.Query{}.InAccount(account)),
	})
}

// accountEvents returns n events of events(seed, …) in the account.
func accountEvents(seed uint64, start time.Time, n int, account string) []auditevents.AuditEvent {
	out := events(seed, start, n)
	for i := range out {
		out[i].Account = account
	}
	return out
}

// attack runs SQL on the test server as an attacker with write access to the
// tables would, outside the store, with {{table}}, {{heads}}, {{tree}} and
// {{pruned}} standing for the store's tables.
func attack(tb testing.TB, s *Store, sql string, args ...any) {
	tb.Helper()
	_, admin := testServer(tb)
	r := strings.NewReplacer("{{table}}", s.sql.table, "{{heads}}", s.sql.log.heads, "{{tree}}", s.sql.log.tree, "{{pruned}}", s.sql.log.pruned)
	if _, err := admin.Exec(context.Background(), r.Replace(sql), args...); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

// TestLedgerConcurrentPools appends batches to one account from four
// stores at once, each with its own pool, as four replicas of a service do:
// the log must hold every event once, at gapless sequences, each batch
// consecutive and in batch order, and verify. Each batch also holds the
// first event of an account that the other pools start at the same time.
func TestLedgerConcurrentPools(t *testing.T) {
	const pools, batches = 4, 25
	schema := freshSchema(t)
	stores := make([]*Store, pools)
	for i := range stores {
		stores[i] = openStore(t, Options{Schema: schema})
	}
	var wg sync.WaitGroup
	errs := make([]error, pools)
	sent := make([][][]auditevents.AuditEvent, pools)
	for p, s := range stores {
		wg.Go(func() {
			for b := range batches {
				batch := accountEvents(uint64(p*1000+b+1), base.Add(time.Duration(b)*time.Minute), 1+(p+b)%7, "acme")
				// Every pool's batch b also starts a new account, all at
				// once: its head row is made while others wait for it.
				other := accountEvents(uint64(p*1000+b+500), base, 1, fmt.Sprintf("new-%02d", b))
				if err := s.Append(context.Background(), append(other, batch...)...); err != nil {
					errs[p] = err
					return
				}
				sent[p] = append(sent[p], batch)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
	}
	s := stores[0]
	seqOf := make(map[string]int64)
	next := int64(0)
	for e, err := range s.Entries(context.Background(), "acme", 0) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Seq != next || e.Pruned != 0 {
			t.Fatalf("entry at sequence %d (pruned %d), want sequence %d", e.Seq, e.Pruned, next)
		}
		if _, dup := seqOf[e.Event.ID]; dup {
			t.Fatalf("event %s at two sequences", e.Event.ID)
		}
		seqOf[e.Event.ID] = e.Seq
		next++
	}
	total := 0
	for p := range sent {
		for _, batch := range sent[p] {
			total += len(batch)
			first, ok := seqOf[batch[0].ID]
			if !ok {
				t.Fatalf("event %s of a stored batch is not in the log", batch[0].ID)
			}
			for i, e := range batch {
				if got, ok := seqOf[e.ID]; !ok || got != first+int64(i) {
					t.Errorf("event %d of a batch at sequence %d (found %v), want %d: a batch is consecutive, in batch order", i, got, ok, first+int64(i))
				}
			}
		}
	}
	if int64(total) != next {
		t.Errorf("the log holds %d events, %d were appended", next, total)
	}
	signer, verifier := logKeys(t)
	if _, err := verifyAll(s, verifier, "acme", checkpoint(t, s, signer, "acme")); err != nil {
		t.Errorf("Verify: %v", err)
	}
	for b := range batches {
		account := fmt.Sprintf("new-%02d", b)
		rep, err := verifyAll(s, verifier, account, checkpoint(t, s, signer, account))
		if err != nil {
			t.Errorf("Verify of account %s: %v", account, err)
		} else if rep.Events != pools {
			t.Errorf("Verify of account %s read %d events, want %d", account, rep.Events, pools)
		}
	}
}

// tamperLog is the log the tamper tests attack: 40 events of account acme,
// appended in batches, with events of another account between them.
func tamperLog(t *testing.T) *Store {
	t.Helper()
	s := openStore(t, Options{PageSize: 7}) // several chunks per read
	ctx := context.Background()
	acme := accountEvents(1, base, 40, "acme")
	other := accountEvents(2, base, 8, "globex")
	for i := 0; i < 40; i += 10 {
		batch := append(slices.Clone(acme[i:i+10]), other[i/5], other[i/5+1])
		if err := s.Append(ctx, batch...); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// TestLedgerTamper changes the tables with SQL, as an attacker with write
// access to the database would, and checks that auditevents.Verify fails
// naming what was done, and passes on the untouched log.
func TestLedgerTamper(t *testing.T) {
	signer, verifier := logKeys(t)
	extra := accountEvents(3, base.Add(time.Hour), 10, "acme")
	tests := []struct {
		name   string
		attack func(t *testing.T, s *Store)
		kind   auditevents.ProblemKind
		seq    int64 // of the first problem
		count  int64
		events bool // verify with VerifyOptions.Events
	}{
		{"untouched", func(t *testing.T, s *Store) {}, 0, 0, 0, true},
		{"update a field", func(t *testing.T, s *Store) {
			attack(t, s, `UPDATE {{table}} SET description = 'nothing to see' WHERE account = 'acme' AND seq = 17`)
		}, auditevents.Modified, 17, 1, false},
		{"update a timestamp by a microsecond", func(t *testing.T, s *Store) {
			attack(t, s, `UPDATE {{table}} SET ts = ts + interval '1 microsecond' WHERE account = 'acme' AND seq = 3`)
		}, auditevents.Modified, 3, 1, false},
		{"delete an event", func(t *testing.T, s *Store) {
			attack(t, s, `DELETE FROM {{table}} WHERE account = 'acme' AND seq = 17`)
		}, auditevents.Removed, 17, 1, false},
		{"insert an event at the end", func(t *testing.T, s *Store) {
			attack(t, s, `INSERT INTO {{table}} (id, ts, account, user_name, action, resource_kind, resource_name, configuration, configuration_name, description, seq)
VALUES ($1, $2, 'acme', 'mallory@example.com', 'Created', 'Configuration', 'x', 'x', 'x', '', 40)`, extra[0].ID, extra[0].Timestamp)
		}, auditevents.Inserted, -1, 0, true},
		{"insert an event and renumber the ones after it", func(t *testing.T, s *Store) {
			attack(t, s, `UPDATE {{table}} SET seq = seq + 1000000 WHERE account = 'acme' AND seq >= 17`)
			attack(t, s, `UPDATE {{table}} SET seq = seq - 1000000 + 1 WHERE account = 'acme' AND seq >= 1000000`)
			attack(t, s, `INSERT INTO {{table}} (id, ts, account, user_name, action, resource_kind, resource_name, configuration, configuration_name, description, seq)
VALUES ($1, $2, 'acme', 'mallory@example.com', 'Created', 'Configuration', 'x', 'x', 'x', '', 17)`, extra[0].ID, extra[0].Timestamp)
		}, auditevents.Inserted, 17, 1, false},
		{"swap two events' sequences", func(t *testing.T, s *Store) {
			attack(t, s, `UPDATE {{table}} SET seq = -1 WHERE account = 'acme' AND seq = 5`)
			attack(t, s, `UPDATE {{table}} SET seq = 5 WHERE account = 'acme' AND seq = 9`)
			attack(t, s, `UPDATE {{table}} SET seq = 9 WHERE account = 'acme' AND seq = -1`)
		}, auditevents.Moved, 5, 1, false},
		{"truncate the newest rows", func(t *testing.T, s *Store) {
			attack(t, s, `DELETE FROM {{table}} WHERE account = 'acme' AND seq >= 35`)
		}, auditevents.Removed, 35, 5, false},
		{"truncate the newest rows and the size", func(t *testing.T, s *Store) {
			attack(t, s, `DELETE FROM {{table}} WHERE account = 'acme' AND seq >= 30`)
			attack(t, s, `UPDATE {{heads}} SET size = 30 WHERE account = 'acme'`)
		}, auditevents.RolledBack, 30, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tamperLog(t)
			cp := checkpoint(t, s, signer, "acme")
			if _, err := verify(s, verifier, "acme", cp, nil); err != nil {
				t.Fatalf("Verify before the attack: %v", err)
			}
			tt.attack(t, s)
			rep, err := verify(s, verifier, "acme", cp, nil)
			if tt.events {
				rep, err = verifyAll(s, verifier, "acme", cp)
			}
			if tt.kind == 0 {
				if err != nil {
					t.Fatalf("Verify of the untouched log: %v", err)
				}
				if rep.Events != 40 {
					t.Errorf("Verify read %d events, want 40", rep.Events)
				}
				return
			}
			var te *auditevents.TamperError
			if !errors.As(err, &te) {
				t.Fatalf("Verify after the attack: %v, want a TamperError", err)
			}
			p := te.Problems[0]
			if p.Kind != tt.kind || p.Seq != tt.seq || (tt.count > 0 && p.Count != tt.count) {
				t.Errorf("Verify found %v (kind %d, sequence %d, count %d), want kind %d at sequence %d, count %d", te, p.Kind, p.Seq, p.Count, tt.kind, tt.seq, tt.count)
			}
			// The other account is untouched.
			if _, err := verify(s, verifier, "globex", checkpoint(t, s, signer, "globex"), nil); err != nil {
				t.Errorf("Verify of the other account: %v", err)
			}
		})
	}
}

// TestLedgerRollback restores an older copy of the tables, as an attacker
// (or an operator restoring a backup) would, after a checkpoint of the
// newer log was saved: Verify must report the rollback.
func TestLedgerRollback(t *testing.T) {
	signer, verifier := logKeys(t)
	s := tamperLog(t)
	tables := []string{s.sql.table, s.sql.log.heads, s.sql.log.tree, s.sql.log.pruned}
	for i, table := range tables {
		attack(t, s, fmt.Sprintf("CREATE TABLE %s.dump_%d AS SELECT * FROM %s", pgx.Identifier{s.opt.Schema}.Sanitize(), i, table))
	}
	if err := s.Append(context.Background(), accountEvents(4, base.Add(time.Hour), 10, "acme")...); err != nil {
		t.Fatal(err)
	}
	saved := checkpoint(t, s, signer, "acme")
	for i, table := range tables {
		attack(t, s, "DELETE FROM "+table)
		attack(t, s, fmt.Sprintf("INSERT INTO %s SELECT * FROM %s.dump_%d", table, pgx.Identifier{s.opt.Schema}.Sanitize(), i))
	}
	if n, err := s.TreeSize(context.Background(), "acme"); err != nil || n != 40 {
		t.Fatalf("TreeSize after the restore = %d, %v; want 40", n, err)
	}
	for _, tt := range []struct {
		name     string
		cp, prev []byte
	}{
		{"against the saved checkpoint", saved, nil},
		{"against a new checkpoint, with the saved one as previous", checkpoint(t, s, signer, "acme"), saved},
	} {
		// With the store's events too, as an auditor with access to the
		// tables verifies: a rollback is still reported as one.
		ctx := context.Background()
		_, err := auditevents.Verify(ctx, auditevents.AccountLog(s, "acme"), auditevents.VerifyOptions{
			Verifier: verifier, Checkpoint: tt.cp, Previous: tt.prev,
			Events: s.Query(ctx, auditevents.Query{}.InAccount("acme")),
		})
		var te *auditevents.TamperError
		if !errors.As(err, &te) || te.Problems[0].Kind != auditevents.RolledBack || te.Problems[0].Size != 50 {
			t.Errorf("Verify %s: %v, want a rollback below size 50", tt.name, err)
		}
	}
}

// TestLedgerPruneVerifies prunes the oldest events: the log still
// verifies, the pruned sequences reported as pruned, while an event deleted
// from the retained range is reported as removed.
func TestLedgerPruneVerifies(t *testing.T) {
	signer, verifier := logKeys(t)
	s := openStore(t, Options{PruneBatchSize: 3, PageSize: 5})
	ctx := context.Background()
	all := accountEvents(5, base, 30, "acme")
	all[20].Timestamp = base.Add(-time.Hour) // imported late, with an old timestamp
	for i := 0; i < 30; i += 6 {
		if err := s.Append(ctx, all[i:i+6]...); err != nil {
			t.Fatal(err)
		}
	}
	cp := checkpoint(t, s, signer, "acme")
	if n, err := s.Prune(ctx, all[10].Timestamp); err != nil || n != 11 {
		t.Fatalf("Prune = %d, %v; want 11", n, err)
	}
	var runs []string
	for e, err := range s.Entries(ctx, "acme", 0) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Pruned > 0 {
			runs = append(runs, fmt.Sprintf("%d+%d", e.Seq, e.Pruned))
		}
	}
	if got, want := strings.Join(runs, " "), "0+10 20+1"; got != want {
		t.Errorf("pruned runs %q, want %q: one entry per run, however many Prune batches made it", got, want)
	}
	rep, err := verify(s, verifier, "acme", cp, nil)
	if err != nil {
		t.Fatalf("Verify after Prune: %v", err)
	}
	if rep.PrunedCount() != 11 || rep.Events != 19 {
		t.Errorf("Verify: %d pruned, %d events; want 11 and 19", rep.PrunedCount(), rep.Events)
	}
	attack(t, s, `DELETE FROM {{table}} WHERE account = 'acme' AND seq = 12`)
	_, err = verify(s, verifier, "acme", cp, nil)
	var te *auditevents.TamperError
	if !errors.As(err, &te) || te.Problems[0].Kind != auditevents.Removed || te.Problems[0].Seq != 12 {
		t.Errorf("Verify after deleting sequence 12 of the retained range: %v, want it removed", err)
	}
}

// TestLedgerAppendAfterTamper checks that an append refuses to extend a
// tree whose rows were changed outside the store, rather than write a tree
// that matches no event.
func TestLedgerAppendAfterTamper(t *testing.T) {
	s := tamperLog(t)
	ctx := context.Background()
	attack(t, s, `INSERT INTO {{table}} (id, ts, account, user_name, action, resource_kind, resource_name, configuration, configuration_name, description, seq)
VALUES ('01J0000000000000000000000Z', now(), 'acme', 'mallory@example.com', 'Created', 'Configuration', 'x', 'x', 'x', '', 40)`)
	err := s.Append(ctx, accountEvents(6, base.Add(time.Hour), 2, "acme")...)
	if !errors.Is(err, ErrInconsistent) || errors.Is(err, auditevents.ErrDuplicateID) {
		t.Errorf("Append onto a sequence taken outside the store: %v, want an error saying the table was written outside the store", err)
	}
	attack(t, s, `DELETE FROM {{table}} WHERE seq = 40`)
	attack(t, s, `UPDATE {{heads}} SET partial = substring(partial from 1 for 32) WHERE account = 'acme'`)
	err = s.Append(ctx, accountEvents(6, base.Add(time.Hour), 2, "acme")...)
	if !errors.Is(err, ErrInconsistent) {
		t.Errorf("Append onto a truncated leaf tile: %v, want an error saying the tree is inconsistent", err)
	}
	attack(t, s, `UPDATE {{heads}} SET partial = substring(partial from 1 for 256), frontier = substring(frontier from 33) WHERE account = 'acme'`)
	err = s.Append(ctx, accountEvents(6, base.Add(time.Hour), 2, "acme")...)
	if !errors.Is(err, ErrInconsistent) {
		t.Errorf("Append onto a truncated right edge: %v, want an error saying the tree is inconsistent", err)
	}
	if n, err := s.TreeSize(ctx, "acme"); err != nil || n != 40 {
		t.Errorf("TreeSize after the failed appends = %d, %v; want 40", n, err)
	}
}

// oldSchema makes, in a fresh schema, the table as the migrations before
// the verifiable log made it (schema version 1), as a store of the previous
// release left it.
func oldSchema(tb testing.TB) *Store {
	tb.Helper()
	_, admin := testServer(tb)
	ctx := context.Background()
	opt, err := (&Options{Schema: freshSchema(tb)}).withDefaults()
	if err != nil {
		tb.Fatal(err)
	}
	old := &Store{pool: admin, opt: opt, sql: newStatements(opt.Schema, opt.Table)}
	versions := pgx.Identifier{opt.Schema, opt.Table + "_schema_migrations"}.Sanitize()
	for _, stmt := range []string{
		"CREATE SCHEMA " + pgx.Identifier{opt.Schema}.Sanitize(),
		"CREATE TABLE " + versions + " (version integer PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
		old.expand(migrations[0].sql),
		"INSERT INTO " + versions + " (version, description) VALUES (1, 'events table and the indexes of the query shapes')",
	} {
		if _, err := admin.Exec(ctx, stmt); err != nil {
			tb.Fatalf("%s: %v", stmt, err)
		}
	}
	return old
}

// oldInsert is the INSERT of the release before the verifiable log.
func oldInsert(s *Store) string {
	return `INSERT INTO ` + s.sql.table + ` (id, ts, account, user_name, action, resource_kind, resource_name, configuration, configuration_name, description)
SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])`
}

// TestMigrateOldTable opens, with this release, a table that the previous
// one made and filled: its events get sequences in (timestamp, ID) order
// within their account, the trees are built, and the log verifies, with
// the roots a memstore computes from the same events in that order.
func TestMigrateOldTable(t *testing.T) {
	old := oldSchema(t)
	ctx := context.Background()
	var all []auditevents.AuditEvent
	all = append(all, events(7, base, 300)...)                                 // three accounts
	all = append(all, accountEvents(8, base.Add(-time.Hour), 10500, "big")...) // more than a build chunk
	slices.Reverse(all)                                                        // inserted newest first
	for i := range all {
		// The previous release had no actor fields.
		all[i].IPAddress, all[i].UserAgent, all[i].RequestID, all[i].Metadata = "", "", "", nil
	}
	for i := 0; i < len(all); i += 2000 {
		batch, err := auditevents.PrepareBatch(all[i:min(i+2000, len(all))])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := old.pool.Exec(ctx, oldInsert(old), newColumns(batch).args()[:10]...); err != nil {
			t.Fatal(err)
		}
	}

	s := openStore(t, Options{Schema: old.opt.Schema})
	model := memstore.New()
	sorted := slices.Clone(all)
	slices.SortFunc(sorted, func(a, b auditevents.AuditEvent) int {
		a, b = auditevents.Normalize(a), auditevents.Normalize(b)
		return auditevents.Compare(b, a) // Compare orders newest first
	})
	if err := model.Append(ctx, sorted...); err != nil {
		t.Fatal(err)
	}
	// Both go on from there alike.
	more := events(9, base.Add(time.Hour), 30)
	for _, l := range []auditevents.Store{s, model} {
		if err := l.Append(ctx, more...); err != nil {
			t.Fatal(err)
		}
	}
	signer, verifier := logKeys(t)
	for _, account := range []string{"", "acme", "globex", "big"} {
		size, root, err := auditevents.TreeHead(ctx, s, account)
		if err != nil {
			t.Fatal(err)
		}
		wantSize, wantRoot, err := auditevents.TreeHead(ctx, model, account)
		if err != nil {
			t.Fatal(err)
		}
		if size != wantSize || root != wantRoot {
			t.Errorf("account %q after the upgrade: size %d, root matches the model's %v; want size %d", account, size, root == wantRoot, wantSize)
		}
		if _, err := verifyAll(s, verifier, account, checkpoint(t, s, signer, account)); err != nil {
			t.Errorf("Verify of account %q after the upgrade: %v", account, err)
		}
	}
	var version int
	if err := s.pool.QueryRow(ctx, "SELECT max(version) FROM "+pgx.Identifier{s.opt.Schema, s.opt.Table + "_schema_migrations"}.Sanitize()).Scan(&version); err != nil || version != migrations[len(migrations)-1].version {
		t.Errorf("schema version %d, %v; want %d", version, err, migrations[len(migrations)-1].version)
	}
}
