package boltstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/auditevents/auditevents"
)

var _ auditevents.Store = (*Store)(nil)

// Options configures [Open]. A nil *Options, like the zero Options, means
// the defaults given for each field.
type Options struct {
	// Timeout bounds the wait for the file lock when another process (or
	// another Store in this process) has the file open; Open then fails
	// with [ErrLocked]. Zero means one second; a negative value waits
	// indefinitely.
	Timeout time.Duration

	// NoSync makes Append return once its events are written to the
	// operating system, without waiting for them to reach the disk. Appends
	// get several times faster. An acknowledged event survives a crash of
	// the process, but a power loss or an operating system crash may lose
	// the events of the last moments before it, and may leave the file
	// damaged (Open or a later call then returns [ErrCorrupt]); restore it
	// from a backup. The default, false, syncs every commit.
	NoSync bool

	// FileMode is the permission of a file that Open creates. Zero means
	// 0600.
	FileMode os.FileMode

	// Retention, when positive, turns on background retention: soon after
	// Open and then every PruneInterval, the store deletes the events whose
	// timestamp is older than Retention before now, as [Store.Prune] does.
	// Zero, the default, deletes nothing unless the host calls Prune.
	Retention time.Duration

	// PruneInterval is how often background retention runs. Zero means one
	// hour. It has no effect unless Retention is positive.
	PruneInterval time.Duration

	// Now returns the current time for background retention. Zero means
	// time.Now. Tests set it.
	Now func() time.Time

	// Logger receives the errors of background retention, which has no
	// caller to return them to. Nil means slog.Default().
	Logger *slog.Logger

	// ReadOnly opens an existing file for reading only, as an auditor
	// does: the file is never written, Append and Prune return
	// [ErrReadOnly], and Retention is ignored. Several read-only stores
	// may share a file, but not with a store that writes it (Open waits
	// for the lock as Timeout says). A file of an older format, which a
	// writable Open upgrades, is refused with [ErrOlderFormat].
	ReadOnly bool

	// NoLog opens the store without the verifiable log, for a host that
	// needs no proofs: appends write neither sequences nor tree hashes,
	// and the methods of [auditevents.Ledger] return [ErrNoLog]. Events
	// keep every field. The file is written in the current format, marked
	// as having no log (FORMAT.md); a file of format 2, the format before
	// the log, is turned into that on a writable Open. Opening the file
	// later without NoLog builds the log once and for good: the stored
	// events get their sequences in stored order and each account's tree
	// is built. A file that already has the log is refused with
	// [ErrNewerFormat], since events appended outside the log would break
	// its proofs. NoLog may be combined with ReadOnly, which then opens a
	// file without the log (format 2 included) as it is.
	NoLog bool

	afterRun    func(pruned int, err error) // called after each background prune; for tests
	sealAfter   int                         // 0: defaultSealAfter; for tests
	scanActor   bool                        // plan without the actor indexes; for their benchmark
	noPrefetch  bool                        // read index paths without prefetching; for tests and benchmarks
	prefetchAll bool                        // prefetch every window, cold or not; for tests
	noHotCopy   bool                        // queries read the hot class from the file; for benchmarks
}

const (
	defaultTimeout       = time.Second
	defaultPruneInterval = time.Hour
	defaultFileMode      = 0o600
)

// Store is an [auditevents.Store] kept in one bbolt file. Create it with
// [Open]. A Store is safe for concurrent use by many goroutines; the file it
// holds may be used by only one Store at a time.
type Store struct {
	db    *bolt.DB
	file  *os.File // bbolt's own handle, for read-ahead
	codec codec

	reqs       chan *appendRequest
	writerDone chan struct{}

	mu     sync.RWMutex // guards closed; held for reading while using db
	closed bool

	// commits is held for reading by every write transaction after Open
	// (update), and for writing while Check compares the pages it reads
	// with bbolt's list of free pages, which a commit changes.
	commits sync.RWMutex

	stop     chan struct{} // closed by Close to stop background work
	bg       sync.WaitGroup
	now      func() time.Time
	logger   *slog.Logger
	afterRun func(pruned int, err error) // called after each background prune; for tests
	readOnly bool                        // Options.ReadOnly
	noLog    bool                        // Options.NoLog: the file has no log and gets none

	waiters waiters // the channels of Appended (notify.go)

	sealAfter   int         // hot events the writer lets accumulate before it seals them
	scanActor   bool        // Options.scanActor
	noPrefetch  bool        // Options.noPrefetch
	prefetchAll bool        // Options.prefetchAll
	noHotCopy   bool        // Options.noHotCopy
	hotStale    atomic.Bool // set by Prune: the writer counts the hot events again
	hot         hotCopy     // the hot class in memory (hot.go)
}

// Open opens the store kept in the file at path, creating the file if it
// does not exist. opts may be nil.
//
// Open fails with an error wrapping [ErrLocked] when another process holds
// the file and does not release it within opts.Timeout; with [ErrNotStore]
// when the file is not an audit event store; with [ErrNewerFormat] when it
// was written by a newer version of this package; with [ErrOlderFormat]
// when it was written in an older format; and with [ErrCorrupt] when
// it is damaged. In all these cases the file is left untouched: Open first
// reads an existing file in read-only mode, and writes nothing to a file it
// has not recognised.
func Open(path string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Timeout == 0 {
		o.Timeout = defaultTimeout
	} else if o.Timeout < 0 {
		o.Timeout = 0 // bbolt waits indefinitely
	}
	if o.FileMode == 0 {
		o.FileMode = defaultFileMode
	}
	if o.PruneInterval <= 0 {
		o.PruneInterval = defaultPruneInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}

	if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
		if err := inspect(path, &o); err != nil {
			return nil, err
		}
	} else if o.ReadOnly {
		return nil, fmt.Errorf("%w: %s does not exist or is empty, and ReadOnly creates nothing", ErrNotStore, path)
	}

	db, file, err := openBolt(path, &o, o.ReadOnly)
	if err != nil {
		return nil, err
	}
	s := &Store{
		db:          db,
		file:        file,
		reqs:        make(chan *appendRequest, 256),
		writerDone:  make(chan struct{}),
		stop:        make(chan struct{}),
		now:         o.Now,
		logger:      o.Logger,
		afterRun:    o.afterRun,
		readOnly:    o.ReadOnly,
		noLog:       o.NoLog,
		sealAfter:   o.sealAfter,
		scanActor:   o.scanActor,
		noPrefetch:  o.noPrefetch,
		prefetchAll: o.prefetchAll,
		noHotCopy:   o.noHotCopy,
	}
	if s.sealAfter <= 0 {
		s.sealAfter = defaultSealAfter
	}
	if err := s.init(o.NoLog); err != nil {
		db.Close()
		return nil, fmt.Errorf("boltstore: opening %s: %w", path, err)
	}
	s.loadHot()
	go s.writer()
	if o.Retention > 0 && !o.ReadOnly {
		s.bg.Add(1)
		go s.retain(o.Retention, o.PruneInterval)
	}
	return s, nil
}

// inspect opens the existing file at path read-only and checks that it is a
// store this version can use, without modifying it.
func inspect(path string, o *Options) error {
	db, file, err := openBolt(path, o, true)
	if err != nil {
		return err
	}
	defer db.Close()
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("boltstore: opening %s: %w", path, err)
	}
	err = guard(func() error {
		return db.View(func(tx *bolt.Tx) error {
			if tx.Size() > fi.Size() {
				return corruptf("the file is %d bytes long but its pages reach %d bytes: it was truncated", fi.Size(), tx.Size())
			}
			if err := verifyPages(file, tx, false); err != nil {
				return err
			}
			_, _, err := readMeta(tx, false)
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("boltstore: opening %s: %w", path, err)
	}
	return nil
}

// openBolt opens the bbolt file, turning bbolt's errors and panics into this
// package's errors. It returns bbolt's own file handle too.
func openBolt(path string, o *Options, readOnly bool) (*bolt.DB, *os.File, error) {
	var file *os.File
	bo := &bolt.Options{
		Timeout:        o.Timeout,
		NoSync:         o.NoSync,
		NoFreelistSync: false, // keep the freelist on disk: Open reads it instead of scanning the file
		// The array freelist hands out the lowest free pages first, so the
		// pages of one commit mostly lie in a few runs; the map freelist
		// picks free pages in hash order, one run per page. Flushing a
		// commit costs per run, not per page, on the disks measured (60
		// scattered pages: 4 ms; 60 contiguous: 1 ms), and 64 concurrent
		// appenders commit about a fifth faster with it (CHANGELOG).
		FreelistType: bolt.FreelistArrayType,
		ReadOnly:     readOnly,
		OpenFile: func(name string, flag int, mode os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, mode)
			file = f
			return f, err
		},
	}
	var (
		db       *bolt.DB
		returned bool
	)
	err := guard(func() error {
		var err error
		db, err = bolt.Open(path, o.FileMode, bo)
		returned = true
		return err
	})
	if err != nil {
		if !returned && file != nil {
			file.Close() // bbolt panicked halfway: release the lock it took
		}
		switch {
		case errors.Is(err, berrors.ErrTimeout):
			err = fmt.Errorf("%w (waited %v for %s)", ErrLocked, o.Timeout, path)
		case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch):
			err = fmt.Errorf("%w: %s is not a bbolt database, or its header pages are damaged (%v)", ErrNotStore, path, err)
		case errors.Is(err, berrors.ErrChecksum):
			err = fmt.Errorf("%w: %s: both header pages fail their checksum", ErrCorrupt, path)
		case readOnly && !errors.As(err, new(*fs.PathError)) && !errors.Is(err, ErrCorrupt) && !errors.As(err, new(*bugError)):
			// Open inspects an existing file read-only first: bbolt's other
			// refusals of it (a file shorter than its pages, such as 4,096
			// zero bytes) say that it is not a bbolt file.
			err = fmt.Errorf("%w: %s is not a bbolt database (%v)", ErrNotStore, path, err)
		default:
			err = fmt.Errorf("boltstore: opening %s: %w", path, err)
		}
		return nil, nil, err
	}
	return db, file, nil
}

// readMeta checks the meta bucket and returns the file's code tables. fresh
// is true for a bbolt file without any bucket, which Open initializes.
func readMeta(tx *bolt.Tx, loadDict bool) (c codec, fresh bool, err error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		var names []string
		_ = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			names = append(names, fmt.Sprintf("%q", name))
			return nil
		})
		if len(names) > 0 {
			return c, false, fmt.Errorf("%w: it is a bbolt file with other buckets (%v)", ErrNotStore, names)
		}
		return c, true, nil
	}
	v := meta.Get(metaFormat)
	if len(v) != 4 {
		return c, false, fmt.Errorf("%w: its meta bucket has no format version", ErrNotStore)
	}
	switch version := binary.BigEndian.Uint32(v); {
	case version == 0:
		return c, false, fmt.Errorf("%w: format version 0", ErrNotStore)
	case version > formatVersion:
		return c, false, fmt.Errorf("%w: the file has format version %d; this version of the package reads format version %d", ErrNewerFormat, version, formatVersion)
	case version >= oldestUpgradable && version < formatVersion:
		c.upgrade = version
	case version < formatVersion:
		return c, false, fmt.Errorf("%w: the file has format version %d; this version of the package reads format version %d and upgrades format versions %d to %d", ErrOlderFormat, version, formatVersion, oldestUpgradable, formatVersion-1)
	}
	c.noLog = c.upgrade == oldestUpgradable || meta.Get(metaNoLog) != nil
	for _, name := range allBuckets {
		if tx.Bucket(name) == nil && !(c.upgrade > 0 && c.upgrade < bucketSince(name)) && !(c.noLog && logBucket(name)) {
			return c, false, corruptf("bucket %q is missing", name)
		}
	}
	c.dict = newDict()
	if loadDict {
		if err := c.dict.load(tx.Bucket(bucketDict)); err != nil {
			return c, false, err
		}
	}
	if c.kinds, err = parseCodeTable("kind", meta.Get(metaKinds)); err != nil {
		return c, false, err
	}
	if c.actions, err = parseCodeTable("action", meta.Get(metaActions)); err != nil {
		return c, false, err
	}
	if len(c.kinds.names) == 0 || len(c.actions.names) == 0 {
		return c, false, corruptf("the code tables are missing")
	}
	if !loadDict {
		return c, false, nil
	}
	// Read the newest and the oldest event: damage near the root shows here.
	cur := tx.Bucket(bucketEvents).Cursor()
	for _, kv := range [][2][]byte{pair(cur.Last()), pair(cur.First())} {
		if kv[0] != nil {
			if _, err := c.decode(kv[0], kv[1]); err != nil {
				return c, false, err
			}
		}
	}
	return c, false, nil
}

func pair(k, v []byte) [2][]byte { return [2][]byte{k, v} }

// logBucket reports whether the bucket belongs to the verifiable log, which
// a file without the log (Options.NoLog) lacks.
func logBucket(name []byte) bool {
	return bytes.Equal(name, bucketLog) || bytes.Equal(name, bucketPositions)
}

// init creates the buckets of a fresh file, adds to an existing file's kind
// table the kinds this version knows and it lacks, and loads the tables.
// With noLog, it creates a fresh file without the log (the current format,
// marked by meta/nolog), turns a writable file of format 2, or of format 5
// without the log, into one, and refuses a file that has the log. Without
// noLog, it upgrades an older file or builds the log of one without it.
func (s *Store) init(noLog bool) error {
	var (
		c      codec
		update bool
		fresh  bool
	)
	err := guard(func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			var err error
			c, fresh, err = readMeta(tx, true)
			if err != nil {
				return err
			}
			if fresh && s.readOnly {
				return fmt.Errorf("%w: the file holds no bucket, and ReadOnly creates nothing", ErrNotStore)
			}
			if fresh {
				c = codec{kinds: newCodeTable(nil), actions: newCodeTable(documentedActions), dict: newDict()}
				update = true
			}
			var grown bool
			c.kinds, grown = c.kinds.extend(kindNames())
			update = update || grown
			return nil
		})
	})
	if err == nil && noLog && !fresh && !c.noLog {
		version := c.upgrade
		if version == 0 {
			version = formatVersion
		}
		err = fmt.Errorf("%w: the file has format version %d, with the verifiable log; a store opened with NoLog writes no log, and events appended outside it would break its proofs: open the file without NoLog", ErrNewerFormat, version)
	}
	marked := c.noLog && c.upgrade != oldestUpgradable // meta/nolog, in format 5 or the current one
	if err == nil && marked && !noLog {
		c.upgrade = oldestUpgradable // a file without the log gets it as a file of format 2 does
	}
	if err == nil && noLog && c.upgrade > 0 && !s.readOnly {
		// A file of format 2, or of format 5 without the log, becomes the
		// current format without the log: its values are already those
		// of that format.
		update = true
	}
	if err == nil && c.upgrade > 0 && !noLog {
		switch {
		case s.readOnly && marked:
			err = fmt.Errorf("%w: the file was written with NoLog and has no verifiable log; open it with NoLog, or once without ReadOnly to build the log", ErrOlderFormat)
		case s.readOnly:
			err = fmt.Errorf("%w: the file has format version %d; open it once without ReadOnly to upgrade it to format version %d", ErrOlderFormat, c.upgrade, formatVersion)
		default:
			err = s.upgrade(&c)
		}
	}
	if s.readOnly {
		s.codec = c // a kind this version adds is known in memory only
		return err
	}
	if err != nil || !update {
		s.codec = c
		return err
	}
	err = guard(func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			meta, err := tx.CreateBucketIfNotExists(bucketMeta)
			if err != nil {
				return err
			}
			if err := rebuildHot(tx); err != nil { // an older file without the log
				return err
			}
			if meta.Get(metaFormat) == nil {
				if err := meta.Put(metaActions, c.actions.bytes()); err != nil {
					return err
				}
			}
			if meta.Get(metaFormat) == nil || noLog {
				// A new file, or a file without the log: the current
				// format, and for NoLog the mark that the log is absent.
				if err := meta.Put(metaFormat, binary.BigEndian.AppendUint32(nil, formatVersion)); err != nil {
					return err
				}
				if noLog {
					if err := meta.Put(metaNoLog, nil); err != nil {
						return err
					}
				}
			}
			if err := meta.Put(metaKinds, c.kinds.bytes()); err != nil {
				return err
			}
			for _, name := range allBuckets {
				if noLog && logBucket(name) {
					continue // no log, and so no positions
				}
				if _, err := tx.CreateBucketIfNotExists(name); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err == nil && noLog {
		c.upgrade, c.noLog = 0, true
	}
	s.codec = c
	return err
}

// Close waits for the appends in flight, stops background retention and
// closes the file. Later calls of the other methods return
// [auditevents.ErrClosed]; later calls of Close return nil.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.reqs)
	close(s.stop)
	s.mu.Unlock()
	<-s.writerDone
	s.waiters.close()
	s.bg.Wait()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("boltstore: closing: %w", err)
	}
	return nil
}

// update runs fn in a write transaction, never beside Check's look at the
// free pages (verify.go).
func (s *Store) update(fn func(tx *bolt.Tx) error) error {
	s.commits.RLock()
	defer s.commits.RUnlock()
	return s.db.Update(fn)
}

// view runs fn in a read transaction, unless the store is closed.
func (s *Store) view(fn func(tx *bolt.Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return auditevents.ErrClosed
	}
	return guard(func() error { return s.db.View(fn) })
}

// Path returns the path of the store's file.
func (s *Store) Path() string { return s.db.Path() }
