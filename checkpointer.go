package auditevents

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// CheckpointerOptions configures a [Checkpointer]. The zero value, like a nil
// *CheckpointerOptions, means the defaults given for each field.
type CheckpointerOptions struct {
	// Interval is how often [Checkpointer.Run] makes checkpoints. Zero
	// means one hour.
	Interval time.Duration
	// Save, when set, receives every checkpoint made, with its account:
	// to publish it, send it to a witness or keep it where the store's
	// writers cannot change it. An error is reported to Logger and the
	// account is tried again at the next round.
	Save func(ctx context.Context, account string, checkpoint []byte) error
	// Logger receives the errors of Run's rounds, which have no caller to
	// return them to. Defaults to slog.Default().
	Logger *slog.Logger
}

// Checkpointer makes signed checkpoints of the accounts of a [Ledger]:
// periodically with Run, or at once with CheckpointAll, each time for every
// account whose tree has grown since its last checkpoint. It keeps the latest
// checkpoint of each account in memory. It is safe for concurrent use.
type Checkpointer struct {
	ledger  Ledger
	logName string
	signer  note.Signer
	opts    CheckpointerOptions

	mu     sync.Mutex
	latest map[string]checkpointed // by account
}

// checkpointed is the latest checkpoint of an account.
type checkpointed struct {
	size int64
	msg  []byte
}

// NewCheckpointer returns a Checkpointer of l's accounts whose checkpoints
// have the origins [Origin](logName, account) and are signed by signer. opts
// may be nil.
func NewCheckpointer(l Ledger, logName string, signer note.Signer, opts *CheckpointerOptions) *Checkpointer {
	c := &Checkpointer{ledger: l, logName: logName, signer: signer, latest: make(map[string]checkpointed)}
	if opts != nil {
		c.opts = *opts
	}
	if c.opts.Interval <= 0 {
		c.opts.Interval = time.Hour
	}
	if c.opts.Logger == nil {
		c.opts.Logger = slog.Default()
	}
	return c
}

// CheckpointAll makes, signs and saves a checkpoint of every account whose
// tree has grown since its last checkpoint (every account, the first time).
// It returns how many it made, and the first error of the store, the
// signer or Save, after trying every account.
func (c *Checkpointer) CheckpointAll(ctx context.Context) (int, error) {
	var accounts []string
	for a, err := range c.ledger.Accounts(ctx) {
		if err != nil {
			return 0, err
		}
		accounts = append(accounts, a)
	}
	made := 0
	var first error
	for _, account := range accounts {
		ok, err := c.checkpoint(ctx, account)
		if ok {
			made++
		}
		if err != nil && first == nil {
			first = err
		}
	}
	return made, first
}

// checkpoint makes and saves a checkpoint of account if its tree grew.
func (c *Checkpointer) checkpoint(ctx context.Context, account string) (bool, error) {
	size, err := c.ledger.TreeSize(ctx, account)
	if err != nil {
		return false, err
	}
	c.mu.Lock()
	prev, ok := c.latest[account]
	c.mu.Unlock()
	if ok && prev.size >= size {
		return false, nil
	}
	msg, cp, err := MakeCheckpoint(ctx, c.ledger, c.logName, account, c.signer)
	if err != nil {
		return false, err
	}
	if c.opts.Save != nil {
		if err := c.opts.Save(ctx, account, msg); err != nil {
			return false, fmt.Errorf("auditevents: saving the checkpoint of account %s: %w", quote(account), err)
		}
	}
	c.mu.Lock()
	if cp.Size > c.latest[account].size || c.latest[account].msg == nil {
		c.latest[account] = checkpointed{size: cp.Size, msg: msg}
	}
	c.mu.Unlock()
	return true, nil
}

// Latest returns the latest checkpoint made of the account, or nil when none
// was made yet.
func (c *Checkpointer) Latest(account string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.latest[account].msg
}

// Run calls CheckpointAll at once and then every Interval until ctx is done,
// and returns ctx's error. Errors of a round go to the Logger.
func (c *Checkpointer) Run(ctx context.Context) error {
	t := time.NewTicker(c.opts.Interval)
	defer t.Stop()
	for {
		if _, err := c.CheckpointAll(ctx); err != nil && ctx.Err() == nil {
			c.opts.Logger.Error("auditevents: making checkpoints", "log", c.logName, "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
