package memstore

import (
	"context"

	"github.com/auditevents/auditevents"
)

var _ auditevents.Positions = (*Store)(nil)

// positionKey is a consumer's position's key: the consumer, then the
// account.
type positionKey struct{ consumer, account string }

// Position returns the consumer's position for the account, as
// [auditevents.Positions] describes. Positions live as long as the Store.
func (s *Store) Position(ctx context.Context, consumer, account string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, auditevents.ErrClosed
	}
	return s.positions[positionKey{consumer, account}], nil
}

// SetPosition stores the consumer's position for the account, as
// [auditevents.Positions] describes.
func (s *Store) SetPosition(ctx context.Context, consumer, account string, position int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return auditevents.ErrClosed
	}
	if err := auditevents.CheckPosition(consumer, position, s.sizeLocked(account)); err != nil {
		return err
	}
	if s.positions == nil {
		s.positions = make(map[positionKey]int64)
	}
	s.positions[positionKey{consumer, account}] = position
	return nil
}
