package pgstore

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestKilledWriterStoresWholeBatches kills a process while it appends
// batches, and checks that every batch is in the table whole or not at all,
// and that the log verifies, consistent with checkpoints taken before the
// kill.
func TestKilledWriterStoresWholeBatches(t *testing.T) {
	if os.Getenv("PGSTORE_TEST_WRITER") != "" {
		t.Skip("running as the writer")
	}
	dsn, _ := testServer(t)
	schema := freshSchema(t)
	s := openStore(t, Options{Schema: schema}) // creates the schema before the writer starts

	cmd := exec.Command(os.Args[0], "-test.run=^TestWriterProcess$", "-test.v")
	cmd.Env = append(os.Environ(), "PGSTORE_TEST_WRITER="+schema, dsnEnv+"="+dsn)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once it has stored a few batches, while it sends the next.
	// Checkpoints of its accounts' logs are taken while it appends, as a
	// host's periodic checkpoints are.
	signer, verifier := logKeys(t)
	accounts := []string{"", "acme", "globex"}
	var early [][]byte
	lines := bufio.NewScanner(out)
	stored := 0
	for stored < 5 && lines.Scan() {
		if _, err := fmt.Sscanf(lines.Text(), "stored batch %d", new(int)); err == nil {
			stored++
		}
		if stored == 2 && early == nil {
			for _, a := range accounts {
				early = append(early, checkpoint(t, s, signer, a))
			}
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait() //nolint:errcheck // killed: the error says so
	if stored < 5 {
		t.Fatalf("the writer stored %d batches before it ended, want 5", stored)
	}

	// The server may still be running the killed writer's last statement;
	// it cannot commit it, as the commit was never sent, but wait for its
	// backend to be gone so that the count below is final.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		var n int
		if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", "pgstore-writer-"+schema).Scan(&n); err != nil {
			t.Fatalf("waiting for the killed writer's backend to end: %v", err)
		}
		if n == 0 {
			break
		}
	}
	rows, err := s.pool.Query(context.Background(), "SELECT description, count(*) FROM "+s.sql.table+" GROUP BY description ORDER BY description")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	batches := 0
	for rows.Next() {
		var batch string
		var n int
		if err := rows.Scan(&batch, &n); err != nil {
			t.Fatal(err)
		}
		batches++
		if n != writerBatch {
			t.Errorf("%s: %d events stored, want all %d or none", batch, n, writerBatch)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if batches < stored {
		t.Errorf("batches in the table: %d, fewer than the %d the writer reported stored", batches, stored)
	}
	// Each account's log holds every stored event, at gapless sequences,
	// and extends the tree checkpointed while the writer ran.
	for i, a := range accounts {
		cp := checkpoint(t, s, signer, a)
		if _, err := verify(s, verifier, a, cp, early[i]); err != nil {
			t.Errorf("Verify of account %q after the kill: %v", a, err)
		}
		if _, err := verifyAll(s, verifier, a, cp); err != nil {
			t.Errorf("Verify of account %q, every stored event, after the kill: %v", a, err)
		}
	}
}

const writerBatch = 2000

// TestWriterProcess is the process TestKilledWriterStoresWholeBatches kills:
// it appends batches until killed, reporting each on stdout once stored.
func TestWriterProcess(t *testing.T) {
	schema := os.Getenv("PGSTORE_TEST_WRITER")
	if schema == "" {
		t.Skip("run by TestKilledWriterStoresWholeBatches")
	}
	dsn, _ := testServer(t)
	s, err := Open(context.Background(), dsn+sep(dsn)+"application_name=pgstore-writer-"+schema, &Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		batch := events(uint64(i)+1, base.Add(time.Duration(i)*time.Hour), writerBatch)
		for j := range batch {
			batch[j].Description = fmt.Sprintf("batch %06d", i)
		}
		if err := s.Append(context.Background(), batch...); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("stored batch %d\n", i)
	}
}
