package auditevents

import (
	"context"
	"fmt"
	"iter"
	"strconv"

	"golang.org/x/mod/sumdb/tlog"
)

// Ledger is implemented by a [Store] that keeps each account's events in a
// verifiable log: an append order and a Merkle tree per account.
// store/memstore, store/boltstore and store/pgstore implement it;
// store/storetest detects it and checks it. A third party's store opts in
// by implementing these methods too.
//
// # Sequences
//
// At commit, the store gives each event a sequence number within its
// account: the first event of an account gets 0, and each later one the next
// number, without gaps, in commit order (not timestamp order: an imported
// event may carry an old timestamp), the events of one batch in the order of
// the batch. Sequences never change, also across a reopen. An account's tree
// size is the number of sequences given so far, so it is also the next
// sequence; it never decreases, also when events are pruned.
//
// # The tree
//
// Each account's Merkle tree hashes, as RFC 6962 and the Go checksum database
// do, one leaf per sequence: the [LeafHash] of the event at that sequence. A
// store keeps the tree's hashes in the layout of golang.org/x/mod/sumdb/tlog
// (stored hash indexes), writing the ones [TreeAppend] returns in the same
// transaction as the batch's events. When events are pruned their hashes
// stay, so that the tree's hashes and proofs do not change.
//
// Every method is safe for concurrent use; after Close each returns (or
// yields) [ErrClosed].
type Ledger interface {
	// TreeSize returns the size of the account's tree: how many events
	// the account has ever been given a sequence, pruned ones included.
	// It is 0 for an account that has none.
	TreeSize(ctx context.Context, account string) (int64, error)

	// Entries streams the account's log in sequence order, from sequence
	// from on: every sequence from from up to at least the tree size when
	// Entries was called, once each, as an [Entry] holding the event or,
	// for a run of pruned sequences, one Entry saying so. It may go on
	// with sequences committed since. Reading costs O(log n) to start and
	// O(1) per entry, in constant memory. A from below 0 or beyond the
	// tree size yields a [*QueryError] for "from". The sequence yields a
	// non-nil error and stops when ctx is cancelled or the store fails; an
	// event the store finds damaged yields an [*EntryError] naming its
	// sequence. A sequence whose event is gone without being pruned (as
	// when someone deleted it behind the store's back) is skipped.
	// Breaking out of the loop early is allowed, and the loop's body may
	// call the store's other methods.
	Entries(ctx context.Context, account string, from int64) iter.Seq2[Entry, error]

	// Lookup returns the entry of the event with the given ID (the ID in
	// any case), with the event and its sequence. An ID that is not
	// stored, or that was pruned, returns an error wrapping
	// [ErrNotFound].
	Lookup(ctx context.Context, id string) (Entry, error)

	// Accounts streams every account that has a non-empty tree, in
	// ascending byte order, once each. The empty account (that of
	// single-account installs) comes first when it has events.
	Accounts(ctx context.Context) iter.Seq2[string, error]

	// ReadHashes returns the account's stored tree hashes at the given
	// stored hash indexes (see tlog.StoredHashIndex), in the order of
	// indexes. An index at or beyond tlog.StoredHashCount(size) returns a
	// [*QueryError] for "index". It is what proofs and checkpoints read.
	// A store that computes some hashes from the events again, instead of
	// keeping them, returns an error wrapping [ErrHashUnavailable] for a
	// hash whose events were changed or removed outside the store.
	ReadHashes(ctx context.Context, account string, indexes []int64) ([]tlog.Hash, error)
}

// Entry is one sequence of an account's log, as [Ledger.Entries] streams
// it: either an event, or a run of sequences whose events were pruned.
type Entry struct {
	// Seq is the event's sequence within its account, or the first
	// sequence of a pruned run.
	Seq int64
	// Pruned is the number of consecutive sequences from Seq whose events
	// were pruned; 0 for an entry that holds an event.
	Pruned int64
	// Event is the event at Seq, as stored; the zero AuditEvent when
	// Pruned is positive.
	Event AuditEvent
}

// Hashes returns a tlog.HashReader over the tree of one account of l, for
// tlog's functions (tlog.TreeHash, tlog.ProveRecord and so on), reading with
// ctx.
func Hashes(ctx context.Context, l Ledger, account string) tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		return l.ReadHashes(ctx, account, indexes)
	})
}

// TreeHead returns the size of the account's tree and its root hash, read
// together: the body of a checkpoint. It returns the store's errors.
func TreeHead(ctx context.Context, l Ledger, account string) (size int64, root tlog.Hash, err error) {
	size, err = l.TreeSize(ctx, account)
	if err != nil {
		return 0, tlog.Hash{}, err
	}
	// Stored hashes never change once written, so the hashes of the tree
	// of this size stay readable whatever is appended meanwhile.
	root, err = tlog.TreeHash(size, Hashes(ctx, l, account))
	if err != nil {
		return 0, tlog.Hash{}, fmt.Errorf("auditevents: computing the tree hash of account %s at size %d: %w", quote(account), size, err)
	}
	return size, root, nil
}

// ProveInclusion returns the proof that the event at sequence seq is the
// leaf seq of the account's tree of the given size, for tlog.CheckRecord:
// about log₂(size) hashes (20, 640 bytes, at a million events). A seq
// outside [0, size) returns a [*QueryError] for "seq", and a size beyond the
// tree a [*QueryError] for "size".
func ProveInclusion(ctx context.Context, l Ledger, account string, seq, size int64) (tlog.RecordProof, error) {
	if err := checkSize(ctx, l, account, "size", size); err != nil {
		return nil, err
	}
	if seq < 0 || seq >= size {
		return nil, &QueryError{Param: "seq", Value: strconv.FormatInt(seq, 10), Reason: "must be a sequence below the tree size " + strconv.FormatInt(size, 10)}
	}
	p, err := tlog.ProveRecord(size, seq, Hashes(ctx, l, account))
	if err != nil {
		return nil, fmt.Errorf("auditevents: proving sequence %d in tree size %d of account %s: %w", seq, size, quote(account), err)
	}
	return p, nil
}

// ProveConsistency returns the proof that the account's tree of size from is
// a prefix of its tree of size to, for tlog.CheckTree. A from outside
// [0, to] returns a [*QueryError] for "from", and a to beyond the tree a
// [*QueryError] for "to".
func ProveConsistency(ctx context.Context, l Ledger, account string, from, to int64) (tlog.TreeProof, error) {
	if err := checkSize(ctx, l, account, "to", to); err != nil {
		return nil, err
	}
	if from < 0 || from > to {
		return nil, &QueryError{Param: "from", Value: strconv.FormatInt(from, 10), Reason: "must be a tree size from 0 to " + strconv.FormatInt(to, 10)}
	}
	p, err := tlog.ProveTree(to, from, Hashes(ctx, l, account))
	if err != nil {
		return nil, fmt.Errorf("auditevents: proving tree size %d consistent with %d in account %s: %w", from, to, quote(account), err)
	}
	return p, nil
}

// checkSize returns a [*QueryError] for param when size is negative or
// beyond the account's tree.
func checkSize(ctx context.Context, l Ledger, account, param string, size int64) error {
	n, err := l.TreeSize(ctx, account)
	if err != nil {
		return err
	}
	if size < 0 || size > n {
		return &QueryError{Param: param, Value: strconv.FormatInt(size, 10), Reason: "must be a tree size from 0 to the current " + strconv.FormatInt(n, 10)}
	}
	return nil
}

// CheckIndexes returns a [*QueryError] for "index" when one of indexes lies
// outside the stored hashes of a tree of the given size,
// [0, tlog.StoredHashCount(size)): the check [Ledger.ReadHashes] makes
// before reading.
func CheckIndexes(size int64, indexes []int64) error {
	limit := tlog.StoredHashCount(size)
	for _, i := range indexes {
		if i < 0 || i >= limit {
			return &QueryError{Param: "index", Value: strconv.FormatInt(i, 10), Reason: "must be a stored hash index below " + strconv.FormatInt(limit, 10) + ", the hashes of tree size " + strconv.FormatInt(size, 10)}
		}
	}
	return nil
}

// CheckFrom returns a [*QueryError] for "from" when from is not a sequence
// from 0 to size: the check [Ledger.Entries] makes before reading.
func CheckFrom(size, from int64) error {
	if from < 0 || from > size {
		return &QueryError{Param: "from", Value: strconv.FormatInt(from, 10), Reason: "must be a sequence from 0 to the tree size " + strconv.FormatInt(size, 10)}
	}
	return nil
}
