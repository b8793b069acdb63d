package auditevents_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/memstore"
)

// A Checkpointer signs every account once, then only the accounts that
// grew; a failed save is tried again at the next round.
func TestCheckpointAll(t *testing.T) {
	ctx := context.Background()
	s := memstore.New()
	defer s.Close()
	events := testEvents(6, "acme")
	if err := s.Append(ctx, events[:3]...); err != nil {
		t.Fatal(err)
	}
	other := events[3:5]
	for i := range other {
		other[i].Account = "globex"
	}
	if err := s.Append(ctx, other...); err != nil {
		t.Fatal(err)
	}
	signer, verifier := testKeys(t)
	var mu sync.Mutex
	saved := make(map[string]int)
	fail := false
	c := auditevents.NewCheckpointer(s, "example.com/audit", signer, &auditevents.CheckpointerOptions{
		Save: func(_ context.Context, account string, cp []byte) error {
			mu.Lock()
			defer mu.Unlock()
			if fail {
				return errors.New("the witness is down")
			}
			saved[account]++
			return nil
		},
	})
	if n, err := c.CheckpointAll(ctx); n != 2 || err != nil {
		t.Fatalf("first CheckpointAll = %d, %v; want 2, nil", n, err)
	}
	if n, err := c.CheckpointAll(ctx); n != 0 || err != nil {
		t.Fatalf("CheckpointAll with nothing new = %d, %v; want 0, nil", n, err)
	}
	if err := s.Append(ctx, events[5]); err != nil {
		t.Fatal(err)
	}
	fail = true
	if _, err := c.CheckpointAll(ctx); err == nil {
		t.Fatal("CheckpointAll with a failing Save returned nil")
	}
	fail = false
	if n, err := c.CheckpointAll(ctx); n != 1 || err != nil {
		t.Fatalf("CheckpointAll after a failed save = %d, %v; want 1, nil", n, err)
	}
	if saved["acme"] != 2 || saved["globex"] != 1 {
		t.Errorf("saved %v, want acme twice and globex once", saved)
	}
	cp, err := auditevents.OpenCheckpoint(c.Latest("acme"), verifier, "example.com/audit/acme")
	if err != nil || cp.Size != 4 {
		t.Errorf("Latest(acme) = size %d, %v; want 4", cp.Size, err)
	}
	if c.Latest("nobody") != nil {
		t.Error("Latest of an account without events is not nil")
	}
}

// Run checkpoints at once and then every interval until its context ends.
func TestCheckpointerRun(t *testing.T) {
	s := memstore.New()
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.Append(ctx, testEvents(1, "acme")...); err != nil {
		t.Fatal(err)
	}
	signer, _ := testKeys(t)
	saves := make(chan int64, 10)
	c := auditevents.NewCheckpointer(s, "example.com/audit", signer, &auditevents.CheckpointerOptions{
		Interval: time.Millisecond,
		Save: func(_ context.Context, _ string, cp []byte) error {
			saves <- int64(len(cp))
			return nil
		},
	})
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	<-saves // the first round
	if err := s.Append(ctx, testEvents(2, "acme")[1]); err != nil {
		t.Fatal(err)
	}
	<-saves // a later round saw the new event
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
}
