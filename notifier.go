package auditevents

// Notifier is implemented by a [Ledger] that says when it commits events, so
// that a reader of an account's log (the live tail of package httpapi) waits
// for the next commit instead of polling. store/memstore and
// store/boltstore implement it. store/pgstore does not: a commit by another
// replica would need LISTEN/NOTIFY to reach this process, so its readers
// poll [Ledger.Entries] at an interval. A third party's store opts in by
// implementing this method too.
//
// A reader takes the channel before it reads the log and waits on it once it
// has read to the end: a commit between the two closes the channel, so none
// is missed.
type Notifier interface {
	// Appended returns a channel that is closed once events of the
	// account are committed after the call, or once the store is closed
	// (a closed store returns a closed channel). It never blocks, and
	// calls for the same account share one channel until it is closed. It
	// is safe for concurrent use.
	Appended(account string) <-chan struct{}
}
