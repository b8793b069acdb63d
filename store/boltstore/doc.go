// Package boltstore keeps audit events in one bbolt file: an
// [auditevents.Store] that is durable, indexed and safe against crashes,
// for a host that runs as one process.
//
//	s, err := boltstore.Open("/var/lib/myservice/audit.db", nil)
//	if err != nil {
//		return err
//	}
//	defer s.Close()
//
// # Layout and queries
//
// FORMAT.md, beside this file, describes every bucket, key and value of the
// file and the reason for each; what follows is a summary.
//
// Events are keyed by their timestamp (to the microsecond) and ID, so they
// lie in result order: a date range is a seek and a scan, newest first, and
// a cursor is a seek. Order is by timestamp even for imported events whose
// ID was made at another time.
//
// Secondary indexes by user, by configuration name (without the version, so
// a filter by "name" and by "name:3" both use it) and by account make those
// filters direct too. The entries of recent events lie in time order,
// whatever their value, so that the entries one commit writes lie together
// and a commit writes a page or two per index rather than one per user or
// configuration. Once there are more than a few thousand of them, they are
// sealed: moved to one time-ordered range per value. A query for one value
// reads the recent entries, keeping its value's, then its sealed range. Each
// index entry also carries the event's other indexed values, and its
// configuration with the version, in coded form, so a query combining
// filters (a user and a configuration, say), or asking for a configuration
// in one version, drops most candidates without reading their events.
// Two more indexes, by request ID and by IP address, hold only the events
// that carry those actor fields, so that an investigator's lookup of one
// request, one client or one network (ip-address=192.0.2.0/24) is direct.
// Their values hardly repeat, so they are sealed into periods of a seal's
// entries each, appended after the others, rather than one range per
// value; a lookup reads the value's range in each period.
//
// A query reads from the path expected to hold the fewest candidates within
// its date range: the events bucket's share is estimated from the number of
// events, an index path's entries are counted (reading the index only, no
// further than a count that would lose). It checks every other filter on
// each candidate with [auditevents.Query.Matches]. The index entries of the
// most recent events (up to 8,192 events' worth, not yet sealed into each
// value's range) lie in time order whatever their value; the Store keeps a
// copy of them in memory, by value, a few megabytes at most, so that a
// query reads only its own value's.
//
// A query reads in chunks, each in its own short read transaction, and holds
// no transaction while the caller's loop body runs; the body may append. A
// query expected to read a large part of the file (a full export, one user
// over all time) also reads ahead, in the background, the events bucket's
// pages that hold its time range, in file order and in large reads,
// skipping what is in the page cache already: bbolt maps the file for
// random access, so a scan of a file that is not in the page cache would
// otherwise fault its pages in one at a time. Other queries
// that find the file cold (on Linux) ask the kernel for the pages of their
// next candidates, or of the next part of their range, all at once, a
// window at a time, instead of waiting for each in turn.
//
// Values are a compact binary encoding with a checksum: strings that repeat
// (accounts, users, resource names, configurations, user agents, metadata
// keys) are coded through a bounded dictionary kept in the file, kinds and the documented actions
// through code tables kept in the file. A million typical events with their
// indexes take about 280 MB. Actor fields cost nothing to the events
// without them; events that all carry an IP address, a user agent and a
// 32-character request ID take about 175 bytes more each: about 45 in the
// events, 130 in the two actor indexes (BenchmarkActorSize).
//
// # Durability and group commit
//
// [Store.Append] returns once its events are synced to disk. Appends from
// concurrent goroutines are gathered into shared transactions, one sync
// each, so many goroutines appending one event each do not pay one sync per
// event. Each call is still all or nothing: a call whose events repeat a
// stored ID, or an ID of a call committed in the same transaction, fails
// alone.
//
// [Options.NoSync] skips the sync. An acknowledged event then survives a
// crash of the process, but not necessarily a power loss or a crash of the
// operating system, which may lose the last moments' events and leave the
// file damaged; keep backups if you use it.
//
// A test kills a process with SIGKILL while it appends, many times, and
// checks that every event it acknowledged is intact, that the indexes agree
// with the events and that bbolt's consistency check passes.
//
// # One process per file
//
// The file is locked while a Store has it open. [Open] of a file that
// another process (or another Store in this process) holds fails with
// [ErrLocked] after [Options.Timeout], one second by default. Hosts that run
// several replicas need a shared database instead.
//
// # The verifiable log
//
// A Store is also an [auditevents.Ledger]: each commit gives its events their
// sequences in their accounts and writes them, with their tree hashes, in the
// same bbolt transaction, so a kill at any moment leaves a log that
// verifies. The leaves of a complete tile of 16 sequences are not kept but
// computed from its events when read, so the log costs about 54 bytes an
// event. Pruning keeps the tree. [Options.ReadOnly] opens a file for an
// auditor without writing to it. FORMAT.md, in this package's directory,
// describes the bytes.
//
// It is also an [auditevents.Positions]: the forward package's forwarder
// keeps each route's position in the file, in a bucket of its own, each
// [Store.SetPosition] a small transaction synced like an Append's commit, so
// a forwarder killed at any moment resumes at its first unacknowledged
// batch. One process holds the file, so one forwarder forwards each route;
// it needs no lease.
//
// And it is an [auditevents.Notifier]: [Store.Appended] hands out a channel
// that the next commit of an account closes, before the Appends it holds
// return, so a live tail (package httpapi) learns of new events at commit
// instead of polling.
//
// # Format version and damaged files
//
// The file carries a format version from its creation. [Open] refuses, with
// a clear error and without writing to the file, a file that is not an audit
// event store ([ErrNotStore]), one written in a newer format
// ([ErrNewerFormat]) or in an older format than version 2
// ([ErrOlderFormat]); a file of version 2, from before the verifiable log,
// of version 3, from before positions, of version 4, from before the
// actor fields, of version 5, which kept every leaf, of version 6, whose
// log keys put the kind first, or of version 7, whose hot bucket kept an
// entry per index and event, is upgraded in place by a writable Open (with
// [Options.NoLog], a version 2 file, or a version 5, 6 or 7 file without
// the log, becomes the current format without the log), and one whose header, page tree or first and last
// events are damaged ([ErrCorrupt]); a file too short to be a bbolt file
// is [ErrNotStore]. Damage that Open does not read is reported as
// [ErrCorrupt] by the call that meets it, never as a panic; [Store.Check]
// reads the whole file. Only panics that damage can cause (inside bbolt, or
// a fault reading the mapped file) become [ErrCorrupt]: any other is a bug
// of this package, returned as an error that keeps its value and stack.
//
// # Backup
//
// [Store.Backup] writes a consistent snapshot of the open store to any
// io.Writer while appends go on; [Store.BackupFile] writes it to a file
// atomically. A snapshot is a store file: restore it by opening it (or
// copying it in place of the store's file while the store is closed).
// Copying the file of an open store with cp is not safe.
//
// # File growth and pruning
//
// The file grows as events are appended and never shrinks by itself.
// [Store.Prune] deletes old events with their index entries, at most 10,000
// per transaction so that appends go on between them; the pages it frees are
// reused by later appends, so a store pruned to a fixed retention stops
// growing. [Options.Retention] runs pruning in the background (it is off by
// default: nothing is deleted unless the host asks). A backup copies free
// pages too; to give space back to the file system, compact the closed file
// into a new one with bbolt's own tool (bbolt compact -o new.db old.db) and
// put the new file in its place.
package boltstore
