package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/forward"
)

// forwardStore returns what the forwarder reads and keeps its positions in:
// the store itself when it keeps positions (auditevents.Positions), or else
// the store with its positions in a file at path. boltstore keeps none yet,
// so this example keeps them in a file beside the bbolt file.
func forwardStore(store auditevents.Store, path string) (forward.Store, error) {
	if fs, ok := store.(forward.Store); ok {
		return fs, nil
	}
	l, ok := store.(auditevents.Ledger)
	if !ok {
		return nil, errors.New("-forward: the store keeps no per-account log (auditevents.Ledger)")
	}
	return openPositions(l, path)
}

// filePositions adds to a Ledger the positions of auditevents.Positions,
// kept in a JSON file: {"consumer": {"account": position}}. Each
// SetPosition writes a new file, syncs it and renames it over the old one,
// so after a crash the file holds the positions before or after the call,
// never a mix; a position is stored only after the sink acknowledged the
// events before it, and those events were durable in the store before they
// were read, so the forwarder stays at least once. It is safe for
// concurrent use.
type filePositions struct {
	auditevents.Ledger
	path string

	mu        sync.Mutex
	positions map[string]map[string]int64 // consumer -> account -> position
}

var _ forward.Store = (*filePositions)(nil)

// openPositions reads the positions file at path, if there is one.
func openPositions(l auditevents.Ledger, path string) (*filePositions, error) {
	p := &filePositions{Ledger: l, path: path, positions: make(map[string]map[string]int64)}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the forwarder's positions: %w", err)
	}
	if err := json.Unmarshal(b, &p.positions); err != nil {
		return nil, fmt.Errorf("reading the forwarder's positions from %s: %w", path, err)
	}
	return p, nil
}

// Position returns the consumer's position for the account, or 0.
func (p *filePositions) Position(ctx context.Context, consumer, account string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.positions[consumer][account], nil
}

// SetPosition stores the consumer's position for the account, durably when
// it returns, as auditevents.Positions describes.
func (p *filePositions) SetPosition(ctx context.Context, consumer, account string, position int64) error {
	size, err := p.TreeSize(ctx, account)
	if err != nil {
		return err
	}
	if err := auditevents.CheckPosition(consumer, position, size); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.positions[consumer] == nil {
		p.positions[consumer] = make(map[string]int64)
	}
	old, had := p.positions[consumer][account]
	p.positions[consumer][account] = position
	if err := p.write(); err != nil {
		if had {
			p.positions[consumer][account] = old
		} else {
			delete(p.positions[consumer], account)
		}
		return fmt.Errorf("storing the forwarder's positions in %s: %w", p.path, err)
	}
	return nil
}

// write replaces the file with the positions: a temporary file, synced,
// renamed over it, and the folder synced.
func (p *filePositions) write() error {
	b, err := json.Marshal(p.positions)
	if err != nil {
		return err
	}
	tmp := p.path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, p.path); err != nil {
		return err
	}
	dir, err := os.Open(filepath.Dir(p.path))
	if err != nil {
		return err
	}
	defer dir.Close()
	return dir.Sync()
}
