package auditevents

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// LogReader is one account's log as [Verify] reads it: a [Ledger] bound to an
// account ([AccountLog]), or a client of a server's proof endpoints.
type LogReader interface {
	// Entries is [Ledger.Entries] for the account.
	Entries(ctx context.Context, from int64) iter.Seq2[Entry, error]
	// ReadHashes is [Ledger.ReadHashes] for the account.
	ReadHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error)
}

// AccountLog returns the log of one account of l as a [LogReader].
func AccountLog(l Ledger, account string) LogReader { return accountLog{l, account} }

type accountLog struct {
	l       Ledger
	account string
}

func (a accountLog) Entries(ctx context.Context, from int64) iter.Seq2[Entry, error] {
	return a.l.Entries(ctx, a.account, from)
}

func (a accountLog) ReadHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
	return a.l.ReadHashes(ctx, a.account, indexes)
}

// VerifyOptions says what [Verify] checks a log against.
type VerifyOptions struct {
	// Verifier checks the checkpoints' signatures: the log's public key,
	// from note.NewVerifier. Required.
	Verifier note.Verifier
	// Origin is the origin the checkpoints must name, as [Origin] makes
	// it; empty accepts any.
	Origin string
	// Checkpoint is the signed checkpoint to verify the log against,
	// usually the latest. Required.
	Checkpoint []byte
	// Previous, when not nil, is a signed checkpoint saved earlier. Verify
	// then also checks that the log still holds, unchanged, the tree that
	// Previous signed: that it was not rolled back below Previous's size,
	// and that no two checkpoints disagree (a fork).
	Previous []byte
	// Progress, when set, is called from time to time, and at the end,
	// with how many of the checkpoint's sequences have been read.
	Progress func(done, total int64)
	// Events, when set, streams every event the store holds in the
	// account, such as [Store.Query] with the account's scope. Verify then
	// also checks, when the log verifies, that each of them is in the
	// log, so that an event written into the store without a sequence is
	// reported as inserted. It costs memory for the IDs of the log's
	// events.
	Events iter.Seq2[AuditEvent, error]
}

// ProblemKind is what is wrong with a log.
type ProblemKind int

// The problems [Verify] reports.
const (
	// Modified: the events at Seq..Seq+Count-1 do not hash to the leaves
	// that the signed tree holds at their sequences.
	Modified ProblemKind = iota + 1
	// Removed: sequences Seq..Seq+Count-1 are missing from the log, and
	// were not pruned.
	Removed
	// Inserted: the log holds Count events at Seq that the signed tree
	// does not (a second event for a sequence, or one pushed in before the
	// events that follow it, which then moved up); or, with Seq -1, the
	// store holds an event outside the log, which Detail names (see
	// VerifyOptions.Events).
	Inserted
	// Moved: the events at Seq..Seq+Count-1 are events that the signed
	// tree holds at Seq+Shift..: they were renumbered or swapped.
	Moved
	// RolledBack: the log is smaller (Seq) than a size it had already
	// signed (Size): it was replaced by an older copy. Seq is -1 when the
	// log shrank while Verify read it, so that its size is not known.
	RolledBack
	// Forked: two signed checkpoints disagree: the one of size Size and
	// the log (or the other checkpoint) of that size hash to different
	// roots, so the log was rewritten after it was signed.
	Forked
	// Rewritten: the log's events do not hash to the signed root, and the
	// store's tree no longer does either (or cannot be read, as Detail
	// says), so the tree was rebuilt: no single sequence can be named. Seq
	// is the first sequence whose event disagrees with the store's tree, or
	// -1.
	Rewritten
)

// Problem is one thing wrong with a log, as [Verify] finds it.
type Problem struct {
	// Kind is what is wrong.
	Kind ProblemKind
	// Seq is the first sequence concerned, or -1 when none can be named.
	Seq int64
	// Count is how many consecutive sequences from Seq are concerned.
	Count int64
	// Shift is, for Moved, how far the events were moved: the event at
	// Seq was signed at Seq+Shift.
	Shift int64
	// Size is, for RolledBack and Forked, the tree size that had been
	// signed.
	Size int64
	// Detail, when not empty, says more, such as why the store's tree
	// could not be read, or, on the problem of the damage that causes it,
	// that the root of a checkpoint's size cannot be recomputed because the
	// store cannot give the hashes of the range around the damage.
	Detail string
}

// String says what is wrong in a sentence, naming the sequences.
func (p Problem) String() string {
	switch p.Kind {
	case Modified:
		verb := " differs"
		if p.Count > 1 {
			verb = " differ"
		}
		return "modified: " + eventsAt(p.Seq, p.Count) + verb + " from what was signed"
	case Removed:
		s := "removed: " + seqs(p.Seq, p.Count) + " missing (not pruned)"
		if p.Detail != "" {
			s += "; " + p.Detail
		}
		return s
	case Inserted:
		if p.Seq < 0 {
			return "inserted: " + p.Detail
		}
		return fmt.Sprintf("inserted: %s, which the signed tree does not hold", eventsAt(p.Seq, p.Count))
	case Moved:
		return fmt.Sprintf("moved: %s signed at %s", eventsAt(p.Seq, p.Count), seqs(p.Seq+p.Shift, p.Count))
	case RolledBack:
		if p.Seq < 0 {
			return fmt.Sprintf("rolled back: the log no longer reaches the size %d it had already signed", p.Size)
		}
		return fmt.Sprintf("rolled back: the log has %d sequences, below the size %d it had already signed", p.Seq, p.Size)
	case Forked:
		return fmt.Sprintf("forked: two different trees of size %d were signed; the log was rewritten after it was signed", p.Size)
	case Rewritten:
		s := "rewritten: the events do not hash to the signed root, and neither does the stored tree"
		if p.Seq >= 0 {
			s += fmt.Sprintf("; the first sequence that differs from the stored tree is %d", p.Seq)
		}
		if p.Detail != "" {
			s += "; " + p.Detail
		}
		return s
	}
	return fmt.Sprintf("problem %d at sequence %d", p.Kind, p.Seq)
}

func seqs(seq, count int64) string {
	if count <= 1 {
		return fmt.Sprintf("sequence %d", seq)
	}
	return fmt.Sprintf("sequences %d to %d", seq, seq+count-1)
}

func eventsAt(seq, count int64) string {
	if count <= 1 {
		return fmt.Sprintf("the event at sequence %d", seq)
	}
	return fmt.Sprintf("the events at sequences %d to %d", seq, seq+count-1)
}

// Report is what [Verify] read and found.
type Report struct {
	// Checkpoint is the checkpoint the log was verified against.
	Checkpoint Checkpoint
	// Previous is the earlier checkpoint, when one was given.
	Previous *Checkpoint
	// Events is how many events were read and their leaves recomputed.
	Events int64
	// Pruned lists the runs of sequences whose events were pruned, which
	// the tree's stored hashes stand for: retention, not tampering. Only a
	// run from sequence 0 is what retention by age leaves; a run after
	// retained events deserves scrutiny, since a deletion by someone who
	// can write the store's tree looks the same.
	Pruned []Entry
	// Problems is every problem found; empty when the log verifies.
	Problems []Problem
}

// PrunedCount returns how many sequences were pruned.
func (r *Report) PrunedCount() int64 {
	var n int64
	for _, p := range r.Pruned {
		n += p.Pruned
	}
	return n
}

// Sequence states while verifying.
const (
	seqMissing byte = iota
	seqEvent
	seqPruned
	seqDamaged // the store could not read the event
)

// filled is a range of sequences that the store's hashes stand for.
type filled struct {
	lo, hi int64
	roots  []subtree
}

// Verify checks one account's log against a signed checkpoint, as an
// auditor who trusts only the log's public key would: it checks the
// checkpoint's signature and origin, reads every event of the log, recomputes
// every leaf ([LeafHash]) and the root of the tree of the checkpoint's size,
// and compares it with the signed root. Pruned sequences are spanned by the
// store's hashes and reported in Report.Pruned, not as tampering. When
// opts.Previous is set it also checks the log against that earlier
// checkpoint. Entries beyond the checkpoint's size are not read.
//
// A sequence that is missing or unreadable is spanned by the store's hashes
// too. When the store cannot give them ([ErrHashUnavailable]: it computes
// them from events that were changed or removed), Verify reads instead the
// hash of the smallest subtree around them that the store gives, so that
// the root, and so any other change, can still be checked.
//
// When the root differs, Verify names the sequences: it reads the store's
// leaf hashes, checks that they hash to the signed root (so they are the
// leaves that were signed), and compares them with the recomputed leaves,
// reading the log a second time from the first difference.
//
// It returns the report and nil when the log verifies; the report and a
// [*TamperError] (wrapping [ErrTampered]) listing the problems when it does
// not; and an error wrapping [ErrCheckpoint] when a checkpoint is malformed,
// names another origin or is not validly signed by opts.Verifier. Errors
// reading the log are returned wrapped, with the report so far. Memory is
// about 33 bytes per sequence of the checkpoint.
func Verify(ctx context.Context, log LogReader, opts VerifyOptions) (*Report, error) {
	if opts.Verifier == nil {
		return nil, fmt.Errorf("%w: no verifier key given", ErrCheckpoint)
	}
	cp, err := OpenCheckpoint(opts.Checkpoint, opts.Verifier, opts.Origin)
	if err != nil {
		return nil, err
	}
	rep := &Report{Checkpoint: cp}
	var prev *Checkpoint
	if opts.Previous != nil {
		p, err := OpenCheckpoint(opts.Previous, opts.Verifier, opts.Origin)
		if err != nil {
			return nil, fmt.Errorf("the previous checkpoint: %w", err)
		}
		prev = &p
		rep.Previous = prev
		switch {
		case p.Size > cp.Size:
			rep.Problems = append(rep.Problems, Problem{Kind: RolledBack, Seq: cp.Size, Size: p.Size})
		case p.Size == cp.Size && p.Hash != cp.Hash:
			rep.Problems = append(rep.Problems, Problem{Kind: Forked, Seq: -1, Size: p.Size})
		}
	}
	v := &verifier{log: log, size: cp.Size, progress: opts.Progress, rep: rep, prevSize: -1}
	if prev != nil && prev.Size <= cp.Size {
		v.prevSize = prev.Size
	}
	if err := v.read(ctx); err != nil {
		return rep, err
	}
	root := v.cr.root()
	prevUnknown := false
	if v.deferred && !v.rootUnknown {
		if root, err = v.rootAt(ctx, v.size, v.leaves); err != nil {
			if err := v.rootUnavailable(v.size, err); err != nil {
				return rep, err
			}
			v.rootUnknown = true
		} else if v.prevSize >= 0 {
			if v.prevRoot, err = v.rootAt(ctx, v.prevSize, v.leaves); err != nil {
				if err := v.rootUnavailable(v.prevSize, err); err != nil {
					return rep, err
				}
				prevUnknown = true
			}
		}
	}
	if v.rootUnknown {
		// The problems are reported; no root can be compared.
	} else if root != cp.Hash {
		if err := v.pinpoint(ctx); err != nil {
			return rep, err
		}
	} else if prev != nil && v.prevSize >= 0 && !prevUnknown && v.prevRoot != prev.Hash {
		// The log verifies against the newer checkpoint, but its
		// prefix is not the tree the older one signed.
		rep.Problems = append(rep.Problems, Problem{Kind: Forked, Seq: -1, Size: prev.Size})
	}
	if opts.Events != nil && len(rep.Problems) == 0 {
		// Only a log that verifies is checked for strays: a damaged
		// store may fail to list its events, and the log's problems
		// already fail it.
		if err := v.checkEvents(ctx, opts.Events); err != nil {
			return rep, err
		}
	}
	if len(rep.Problems) > 0 {
		return rep, &TamperError{Problems: rep.Problems}
	}
	return rep, nil
}

// maxStrays bounds how many events without a sequence Verify names.
const maxStrays = 100

// checkEvents reports the events of events whose IDs the log does not hold.
// Every event of the log is the store's, so the store holds no other when
// it holds as many: it counts the log's events (reading on beyond the
// checkpoint) and the store's, and only when the counts differ reads both
// again to name the strays.
//
// It runs only on a log that verified, which reached the checkpoint's size
// when it was read. Should the log no longer reach it when read on (the
// store refuses to read from beyond its tree), it was rolled back since:
// that is reported as RolledBack, not as an error reading the log.
func (v *verifier) checkEvents(ctx context.Context, events iter.Seq2[AuditEvent, error]) error {
	logged := v.rep.Events
	for e, err := range v.log.Entries(ctx, v.size) {
		var qe *QueryError
		if errors.As(err, &qe) && qe.Param == "from" {
			v.problem(Problem{Kind: RolledBack, Seq: -1, Size: v.size})
			return nil
		}
		if err != nil {
			return fmt.Errorf("auditevents: reading the log beyond the checkpoint: %w", err)
		}
		if e.Pruned == 0 {
			logged++
		}
	}
	var stored int64
	for _, err := range events {
		if err != nil {
			return fmt.Errorf("auditevents: reading the store's events: %w", err)
		}
		stored++
	}
	if stored == logged {
		return nil
	}
	// Each logged event by its ID and time, once: a second stored event
	// with a logged event's ID (at another time, or stored twice) is not
	// the one the log holds.
	type eventKey struct {
		id string
		t  int64
	}
	ids := make(map[eventKey]int, logged)
	loggedIDs := make(map[string]bool, logged)
	for e, err := range v.log.Entries(ctx, 0) {
		if err != nil {
			return fmt.Errorf("auditevents: reading the log again: %w", err)
		}
		if e.Pruned == 0 {
			ids[eventKey{e.Event.ID, e.Event.Timestamp.UnixMicro()}]++
			loggedIDs[e.Event.ID] = true
		}
	}
	strays := 0
	for e, err := range events {
		if err != nil {
			return fmt.Errorf("auditevents: reading the store's events: %w", err)
		}
		k := eventKey{e.ID, e.Timestamp.UnixMicro()}
		if ids[k] > 0 {
			ids[k]--
			continue
		}
		if strays++; strays <= maxStrays {
			detail := "event " + e.ID + " is stored without a sequence"
			if loggedIDs[e.ID] {
				detail = "event " + e.ID + " of " + e.Timestamp.UTC().Format(time.RFC3339Nano) + " is stored without a sequence, beside the logged event with its ID"
			}
			v.rep.Problems = append(v.rep.Problems, Problem{Kind: Inserted, Seq: -1, Detail: detail})
		}
	}
	if strays > maxStrays {
		v.rep.Problems = append(v.rep.Problems, Problem{Kind: Inserted, Seq: -1, Detail: fmt.Sprintf("and %d more events stored without a sequence", strays-maxStrays)})
	}
	return nil
}

// verifier holds the state of one Verify.
type verifier struct {
	log      LogReader
	size     int64 // the checkpoint's
	progress func(done, total int64)
	rep      *Report

	cr       compactRange
	state    []byte      // per sequence: seqMissing, seqEvent or seqPruned
	leaves   []tlog.Hash // per sequence: the recomputed leaf of an event
	fills    []filled    // ranges spanned by stored hashes
	prevSize int64       // the previous checkpoint's size, or -1
	prevRoot tlog.Hash   // the root of the log's prefix of prevSize

	rootUnknown bool // the store's tree lacks hashes the root needs

	// deferred is set when the store could not give the hashes of a
	// damaged range (ErrHashUnavailable): cr then lacks that range, and
	// the roots are computed at the end by rootAt, which reads the hashes
	// of larger subtrees around it. known holds the hashes of the ranges
	// that were read, by level and index.
	deferred bool
	known    map[[2]int64]tlog.Hash
}

// progressEvery is how many sequences pass between calls of Progress.
const progressEvery = 1 << 16

// read streams the log up to the checkpoint's size and builds the root.
func (v *verifier) read(ctx context.Context) error {
	if v.prevSize == 0 {
		v.prevRoot = v.cr.root()
	}
	next := int64(0)
	for {
		resume, err := v.readFrom(ctx, &next)
		if err != nil {
			return err
		}
		if !resume {
			break
		}
	}
	if next < v.size {
		err := v.fill(ctx, next, v.size, seqMissing)
		var qe *QueryError
		switch {
		case errors.As(err, &qe):
			// The store's tree is smaller than the signed one too: the
			// log was replaced by an older copy, or truncated.
			v.problem(Problem{Kind: RolledBack, Seq: next, Size: v.size})
			v.rootUnknown = true
		case err != nil:
			return err
		default:
			v.problem(Problem{Kind: Removed, Seq: next, Count: v.size - next})
		}
	}
	if v.progress != nil {
		v.progress(v.size, v.size)
	}
	return nil
}

// readFrom streams the log from *next and builds the root, advancing *next.
// It returns true when the store could not read the event at a sequence
// (an [*EntryError]): that sequence is then reported as modified, spanned by
// the store's leaf, and the caller reads on from the one after it.
func (v *verifier) readFrom(ctx context.Context, next *int64) (bool, error) {
	for e, err := range v.log.Entries(ctx, *next) {
		var ee *EntryError
		if errors.As(err, &ee) && ee.Seq >= *next && ee.Seq < v.size {
			if ee.Seq > *next {
				v.problem(Problem{Kind: Removed, Seq: *next, Count: ee.Seq - *next})
				if err := v.fill(ctx, *next, ee.Seq, seqMissing); err != nil {
					return false, err
				}
			}
			v.problem(Problem{Kind: Modified, Seq: ee.Seq, Count: 1, Detail: ee.Err.Error()})
			if err := v.fill(ctx, ee.Seq, ee.Seq+1, seqDamaged); err != nil {
				return false, err
			}
			*next = ee.Seq + 1
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("auditevents: reading the log at sequence %d: %w", *next, err)
		}
		if e.Seq >= v.size {
			return false, nil
		}
		if e.Seq < *next {
			v.problem(Problem{Kind: Inserted, Seq: e.Seq, Count: 1})
			continue
		}
		if e.Seq > *next {
			v.problem(Problem{Kind: Removed, Seq: *next, Count: e.Seq - *next})
			if err := v.fill(ctx, *next, e.Seq, seqMissing); err != nil {
				return false, err
			}
		}
		if e.Pruned > 0 {
			end := min(e.Seq+e.Pruned, v.size)
			v.rep.Pruned = append(v.rep.Pruned, Entry{Seq: e.Seq, Pruned: end - e.Seq})
			if err := v.fill(ctx, e.Seq, end, seqPruned); err != nil {
				return false, err
			}
			*next = end
		} else {
			leaf := LeafHash(e.Seq, &e.Event)
			v.state = append(v.state, seqEvent)
			v.leaves = append(v.leaves, leaf)
			v.cr.appendSubtree(0, leaf)
			v.rep.Events++
			*next = e.Seq + 1
			if v.cr.size == v.prevSize {
				v.prevRoot = v.cr.root()
			}
		}
		if v.progress != nil && *next%progressEvery == 0 {
			v.progress(*next, v.size)
		}
	}
	return false, nil
}

// problem records p, merging a Removed or Inserted run with the one before.
func (v *verifier) problem(p Problem) {
	ps := v.rep.Problems
	if n := len(ps); n > 0 && ps[n-1].Kind == p.Kind && p.Kind == Inserted && ps[n-1].Seq == p.Seq {
		ps[n-1].Count++
		return
	}
	v.rep.Problems = append(ps, p)
}

// fill spans [lo, hi) with the store's hashes of its aligned subtrees,
// split at the previous checkpoint's size so that its root can be taken.
func (v *verifier) fill(ctx context.Context, lo, hi int64, state byte) error {
	if lo < v.prevSize && v.prevSize < hi {
		if err := v.fill(ctx, lo, v.prevSize, state); err != nil {
			return err
		}
		lo = v.prevSize
	}
	var levels []int
	var at, indexes []int64
	alignedSubtrees(lo, hi, func(level int, index int64) {
		levels = append(levels, level)
		at = append(at, index)
		indexes = append(indexes, tlog.StoredHashIndex(level, index))
	})
	hashes, err := v.readHashes(ctx, indexes)
	// A store may give a pruned range only through a larger subtree, too
	// (store/boltstore prunes a damaged tile of 16 whole).
	unavailable := errors.Is(err, ErrHashUnavailable)
	if err != nil && !unavailable {
		return fmt.Errorf("auditevents: reading the stored hashes for sequences %d to %d: %w", lo, hi-1, err)
	}
	f := filled{lo: lo, hi: hi}
	if unavailable {
		// The store computes these hashes from the events, which were
		// changed or removed: the hashes of larger subtrees stand for
		// the range (rootAt).
		v.deferred = true
	} else {
		if v.known == nil {
			v.known = make(map[[2]int64]tlog.Hash)
		}
		for i, h := range hashes {
			v.cr.appendSubtree(levels[i], h)
			f.roots = append(f.roots, subtree{levels[i], h})
			v.known[[2]int64{int64(levels[i]), at[i]}] = h
		}
	}
	v.fills = append(v.fills, f)
	for range hi - lo {
		v.state = append(v.state, state)
		v.leaves = append(v.leaves, tlog.Hash{})
	}
	if v.cr.size == v.prevSize && !v.deferred {
		v.prevRoot = v.cr.root()
	}
	return nil
}

// readHashes reads the store's hashes at indexes, and fails when the store
// returns another number of hashes than it was asked for.
func (v *verifier) readHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
	hs, err := v.log.ReadHashes(ctx, indexes)
	if err == nil && len(hs) != len(indexes) {
		err = fmt.Errorf("%d hashes read for %d indexes", len(hs), len(indexes))
	}
	return hs, err
}

// rootAt returns the root of the tree of the first n sequences (the
// checkpoint's size, or the previous checkpoint's), with the given leaves
// for the sequences that hold events and the store's hashes for the ranges
// without them, when deferred is set (otherwise cr holds the root, built
// while reading). It computes each complete subtree from its leaves where
// it can and, for a range whose hashes the store could not give, reads the
// hash of the smallest subtree around it that the store gives.
func (v *verifier) rootAt(ctx context.Context, n int64, leaves []tlog.Hash) (tlog.Hash, error) {
	var cr compactRange
	var err error
	alignedSubtrees(0, n, func(level int, index int64) {
		if err != nil {
			return
		}
		var h tlog.Hash
		h, err = v.subtree(ctx, level, index, leaves)
		cr.appendSubtree(level, h)
	})
	return cr.root(), err
}

// subtree returns the hash of the complete subtree at level and index, for
// rootAt.
func (v *verifier) subtree(ctx context.Context, level int, index int64, leaves []tlog.Hash) (tlog.Hash, error) {
	if h, ok := v.known[[2]int64{int64(level), index}]; ok {
		return h, nil
	}
	var err error
	if level == 0 {
		if v.state[index] == seqEvent {
			return leaves[index], nil
		}
	} else {
		var l, r tlog.Hash
		if l, err = v.subtree(ctx, level-1, 2*index, leaves); err == nil {
			if r, err = v.subtree(ctx, level-1, 2*index+1, leaves); err == nil {
				return tlog.NodeHash(l, r), nil
			}
		}
		if !errors.Is(err, ErrHashUnavailable) {
			return tlog.Hash{}, err
		}
	}
	hs, err := v.readHashes(ctx, []int64{tlog.StoredHashIndex(level, index)})
	if err != nil {
		return tlog.Hash{}, &rangeError{lo: index << level, hi: (index+1)<<level - 1, err: err}
	}
	if lo, hi := index<<level, (index+1)<<level; level > 0 && !v.damagedIn(lo, min(hi, int64(len(v.state)))) {
		// Only damage reported (a sequence missing or unreadable)
		// lets a stored hash stand for events: a range reported pruned
		// whose hashes the store cannot give would otherwise leave the
		// events beside it unchecked.
		return tlog.Hash{}, fmt.Errorf("auditevents: the store gives no hashes of the pruned sequences among sequences %d to %d, which hold events", lo, hi-1)
	}
	return hs[0], nil
}

// damagedIn reports whether a sequence of [lo, hi) is missing or
// unreadable, or none holds an event.
func (v *verifier) damagedIn(lo, hi int64) bool {
	events := false
	for _, st := range v.state[lo:hi] {
		if st == seqMissing || st == seqDamaged {
			return true
		}
		events = events || st == seqEvent
	}
	return !events
}

// rangeError is the error of rootAt when the store cannot give the hash of
// sequences lo to hi.
type rangeError struct {
	lo, hi int64
	err    error
}

func (e *rangeError) Error() string {
	return fmt.Sprintf("auditevents: reading the stored hash of sequences %d to %d: %v", e.lo, e.hi, e.err)
}

func (e *rangeError) Unwrap() error { return e.err }

// rootUnavailable reports that the root of the tree of size n cannot be
// computed (rootAt's err). When the store cannot give the hash of a range
// around damage already reported (ErrHashUnavailable: it computes the hash
// from events that were changed or removed), it says so on the problem of
// that damage, which is no other tampering; otherwise it reports the tree
// unreadable.
func (v *verifier) rootUnavailable(n int64, err error) error {
	var re *rangeError
	if !errors.As(err, &re) || !errors.Is(err, ErrHashUnavailable) || len(v.rep.Problems) == 0 {
		return v.unreadable(err)
	}
	at := 0 // the problem in the range, else the first
	for i, p := range v.rep.Problems {
		if p.Seq >= re.lo && p.Seq <= re.hi {
			at = i
			break
		}
	}
	p := &v.rep.Problems[at]
	detail := fmt.Sprintf("the root of size %d cannot be recomputed: the hashes of sequences %d to %d are unavailable", n, re.lo, re.hi)
	if p.Detail != "" {
		detail = p.Detail + "; " + detail
	}
	p.Detail = detail
	return nil
}

// readBatch is how many stored hashes pinpoint reads at a time.
const readBatch = 4096

// pinpoint names the sequences whose events differ from the signed leaves.
func (v *verifier) pinpoint(ctx context.Context) error {
	// The store's leaves, and the root they make with the same fills.
	stored := make([]tlog.Hash, v.size)
	var indexes []int64
	var at []int64
	flush := func() error {
		if len(indexes) == 0 {
			return nil
		}
		hs, err := v.readHashes(ctx, indexes)
		if err != nil {
			return err
		}
		for i, s := range at {
			stored[s] = hs[i]
		}
		indexes, at = indexes[:0], at[:0]
		return nil
	}
	for s := range v.size {
		if v.state[s] == seqPruned || v.deferred && v.state[s] != seqEvent {
			continue // deferred: the store cannot give the leaves of the damaged ranges
		}
		indexes = append(indexes, tlog.StoredHashIndex(0, s))
		at = append(at, s)
		if len(indexes) == readBatch {
			if err := flush(); err != nil {
				return v.unreadable(err)
			}
		}
	}
	if err := flush(); err != nil {
		return v.unreadable(err)
	}
	var cr compactRange
	fi := 0
	for s := int64(0); s < v.size && !v.deferred; {
		if v.state[s] == seqEvent {
			cr.appendSubtree(0, stored[s])
			s++
			continue
		}
		f := v.fills[fi]
		fi++
		for _, r := range f.roots {
			cr.appendSubtree(r.level, r.hash)
		}
		s = f.hi
	}
	root := cr.root()
	if v.deferred {
		var err error
		if root, err = v.rootAt(ctx, v.size, stored); err != nil {
			return v.rootUnavailable(v.size, err)
		}
	}
	var differ []int64
	for s := range v.size {
		if v.state[s] == seqEvent && v.leaves[s] != stored[s] {
			differ = append(differ, s)
		}
	}
	if root != v.rep.Checkpoint.Hash {
		first := int64(-1)
		if len(differ) > 0 {
			first = differ[0]
		}
		v.rep.Problems = append(v.rep.Problems, Problem{Kind: Rewritten, Seq: first})
		return nil
	}
	if len(differ) == 0 {
		return nil // the differences are the removals already reported
	}
	// The stored leaves are the signed ones. Find where each differing
	// event was signed, if anywhere: one sequence before or after, or at
	// another differing sequence (a swap).
	shift := make(map[int64]int64, len(differ))
	candidates := differ
	if len(candidates) > maxPairs {
		candidates = nil
	}
	want := make(map[int64]bool, len(differ))
	for _, s := range differ {
		want[s] = true
	}
	for e, err := range v.log.Entries(ctx, differ[0]) {
		if errors.As(err, new(*EntryError)) {
			break // the events after it stay reported as modified
		}
		if err != nil {
			return fmt.Errorf("auditevents: reading the log again at sequence %d: %w", differ[0], err)
		}
		if e.Seq >= v.size {
			break
		}
		if e.Pruned > 0 || !want[e.Seq] {
			continue
		}
		delete(want, e.Seq) // a second entry for this sequence was reported as inserted
		for _, t := range append([]int64{e.Seq - 1, e.Seq + 1}, candidates...) {
			if t < 0 || t >= v.size || t == e.Seq || v.state[t] == seqPruned {
				continue
			}
			if LeafHash(t, &e.Event) == stored[t] && stored[t] != (tlog.Hash{}) {
				shift[e.Seq] = t - e.Seq
				break
			}
		}
	}
	// Runs of consecutive sequences with the same outcome make one problem.
	for i := 0; i < len(differ); {
		s := differ[i]
		d, moved := shift[s]
		j := i + 1
		for j < len(differ) && differ[j] == differ[j-1]+1 {
			d2, moved2 := shift[differ[j]]
			if moved2 != moved || d2 != d {
				break
			}
			j++
		}
		p := Problem{Kind: Modified, Seq: s, Count: int64(j - i)}
		if moved {
			p.Kind, p.Shift = Moved, d
		}
		v.rep.Problems = append(v.rep.Problems, p)
		i = j
	}
	v.explainShifts()
	return nil
}

// maxPairs bounds the differing sequences among which pinpoint looks for
// swaps, trying each event at each of them.
const maxPairs = 256

// explainShifts rewrites the patterns that renumbering leaves: a modified
// sequence followed by events moved down by one to the end is an insertion,
// and events moved up by one to a missing end are a removal.
func (v *verifier) explainShifts() {
	ps := v.rep.Problems
	for i := range ps {
		p := &ps[i]
		if p.Kind == Modified && p.Count == 1 && i+1 < len(ps) {
			q := ps[i+1]
			if q.Kind == Moved && q.Shift == -1 && q.Seq == p.Seq+1 && q.Seq+q.Count == v.size {
				p.Kind = Inserted
			}
		}
	}
	// A removal with renumbering: the events from s on were signed one
	// sequence later, and the last sequence is missing. Name the removed
	// sequence, s, instead of the missing end.
	for i := range ps {
		q := ps[i]
		if q.Kind != Moved || q.Shift != 1 || q.Seq+q.Count != v.size-1 {
			continue
		}
		for j := range ps {
			if ps[j].Kind == Removed && ps[j].Seq == v.size-1 && ps[j].Count == 1 {
				ps[j].Seq = q.Seq
			}
		}
	}
	sortProblems(ps)
}

// sortProblems orders problems by sequence, the ones without one first.
func sortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int { return cmp.Compare(a.Seq, b.Seq) })
}

// unreadable records that the root differs and the store's tree cannot be
// read to say where.
func (v *verifier) unreadable(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	v.rep.Problems = append(v.rep.Problems, Problem{Kind: Rewritten, Seq: -1, Detail: "reading the stored tree: " + err.Error()})
	return nil
}
