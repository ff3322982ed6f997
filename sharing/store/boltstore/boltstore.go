package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/ctexchange/cte/sharing"
)

var _ sharing.Store = (*Store)(nil)

// SchemaVersion is the layout this package reads and writes. A file with a
// higher version was written by a newer cte and is refused.
const SchemaVersion = 5

// format marks a bbolt file as a cte state file.
const format = "cte-state"

// Bucket names.
var (
	bMeta        = []byte("meta")
	bRecords     = []byte("records")
	bCheckpoints = []byte("checkpoints")
	bLedger      = []byte("ledger") // one nested bucket per sharing configuration
	bApplied     = []byte("applied")
	bAudit       = []byte("audit") // keys: big-endian sequence numbers
	bRuns        = []byte("runs")
	bStaged      = []byte("staged") // record versions not yet folded into records
	bMarks       = []byte("marks")  // values taken out of sharing by an operator, JSON by value

	bVersions = []byte("versions") // source → big-endian change number (sharing.Tx.Version)
	bRanked   = []byte("ranked")   // active entries by source and priority (ranked.go)
	bRankedN  = []byte("rankedN")  // how many keys of ranked, by source and type (ranked.go)

	allBuckets = [][]byte{bRecords, bCheckpoints, bLedger, bApplied, bAudit, bRuns, bStaged, bMarks, bVersions, bRanked, bRankedN}

	kFormat = []byte("format")
	kSchema = []byte("schema")
)

// Store is a sharing.Store in one bbolt file. It is safe for concurrent use:
// one Update at a time, any number of Views beside it.
type Store struct {
	db     *bolt.DB
	path   string
	foldAt int
	// rebuild: every fold writes the records bucket anew, in transactions of
	// rebuildN records (withRebuild; default rebuildChunk)
	rebuild  bool
	rebuildN int
	rebuilt  int // rebuilds that completed (under wmu): for the tests
	// foldN: a fold of more values than this is made after the Update's
	// commit, foldN values a transaction (foldAfter; default foldChunk)
	foldN      int
	foldsAfter int                  // folds foldAfter completed (under wmu): for the tests
	foldHook   func(part int) error // tests: runs in each transaction of foldAfter, numbered from 0

	wmu     sync.Mutex // held by Update from its start until its index change is final
	spare   txSpare    // the last Update's buffers, for the next (under wmu)
	idx     atomic.Pointer[index]
	hash    stageHash  // the staging index's (its seed, for every index of this Store)
	filter  *keyFilter // keys of the records bucket, once built; used and changed by Updates only
	lookups int        // record lookups of Updates before the filter is built
}

// Option changes how Open opens a file.
type Option func(*options)

type options struct {
	lockTimeout time.Duration
	foldAt      int
	rebuild     bool
	rebuildN    int
	foldN       int
	foldHook    func(part int) error
	stageHash   func(string) uint64
}

// WithLockTimeout sets how long Open waits for another process to release the
// file before it gives up (default 1 s); zero or less gives up at once.
func WithLockTimeout(d time.Duration) Option {
	return func(o *options) { o.lockTimeout = max(d, time.Nanosecond) } // bbolt waits forever on 0
}

// ErrDamaged is wrapped by the errors of a state file that cannot be read as
// one: empty, truncated, or with pages overwritten. Nothing in it is changed;
// restore a backup (cte state backup makes one), or move it away to start
// afresh.
var ErrDamaged = errors.New("state file damaged")

// damagedHint is what an operator can do about a damaged file.
const damagedHint = "restore it from a backup (cte state backup FILE makes one), or move it away to start afresh (everything is pulled and shared again); cte state check tells what is wrong"

// pageSize is the page size of a new state file: 16 KiB, not the 4 KiB
// system page bbolt takes by default. Records, ranked keys and ledger
// entries are keyed by random values, so folds, rebuilds and shares dirty
// leaves all over the file, and bbolt splits, allocates and writes (one
// pwrite each) page by page: a quarter as many leaves is a quarter as many
// of each. With the whole-job benchmark at 1M events, 3
// runs each alternated with 4 KiB pages: a first sync took 17.6 [16.9–18.7]
// s against 20.1 [19.3–20.7] and peaked at 887 MB of RSS against 921; the
// sync whose Close folds 148,000 values took 4.04 s against 4.51 and 635 MB
// against 702; a 1%-new sync the same CPU (1.85 against 1.82 s) and 525 MB
// against 578. At 200,000 events the CPU is the same within the noise. A
// file keeps the page size it was made with.
const pageSize = 16 << 10

// Open opens the state file at path, creating it when it does not exist. It
// fails with a clear error when another process holds the file, when the file
// is not a cte state file, when a newer cte wrote it, or when it is damaged
// (ErrDamaged): an existing empty file, a truncated one, or one whose pages
// cannot be read is refused, never re-initialised, and never crashes cte.
func Open(path string, opts ...Option) (st *Store, err error) {
	o := options{lockTimeout: time.Second, foldAt: defaultFoldAt}
	for _, opt := range opts {
		opt(&o)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && fi.Size() == 0 {
		return nil, fmt.Errorf("boltstore: %w: %s is empty (0 bytes), not a cte state file: cte does not start it again on its own, which would share everything again; %s", ErrDamaged, path, damagedHint)
	}
	if err := checkMeta(path); err != nil {
		return nil, err
	}
	// A damaged page makes bbolt panic, or fault on its memory map.
	var db *bolt.DB
	var file *os.File // bolt's, to release its lock when bolt.Open itself panics
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if v := recover(); v != nil {
			st, err = nil, fmt.Errorf("boltstore: %w: %s cannot be read (%v); %s", ErrDamaged, path, v, damagedHint)
			if db == nil && file != nil {
				_ = file.Close()
			}
		}
		if err != nil && db != nil {
			_ = db.Close() // releases the file lock
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			file = f
			return f, err
		},
		Timeout: o.lockTimeout,
		// The freelist is written at every commit, so that opening the file
		// reads it instead of walking every page to rebuild it.
		FreelistType: bolt.FreelistMapType,
		// Address space, not disk: the file is remapped (which waits for
		// every View) only once it outgrows this.
		InitialMmapSize: 1 << 30,
		// A new file's page size; a file keeps the one it was made with.
		PageSize: pageSize,
	})
	if err != nil {
		db = nil // bolt closed it
	}
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("boltstore: state file %s is in use by another cte process: stop it or use another state file", path)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
		return nil, fmt.Errorf("boltstore: state file %s is not a cte store (%w): check the path; if it is the state file, it is damaged: %s", path, err, damagedHint)
	case err != nil:
		return nil, fmt.Errorf("boltstore: open state file %s: %w", path, err)
	}
	return load(db, path, o)
}

// load sets up or checks the buckets of an opened file, reads its staging
// index and, for a file written before the ranked index, builds that once.
func load(db *bolt.DB, path string, o options) (*Store, error) {
	var buildRank bool
	if err := db.Update(func(tx *bolt.Tx) error {
		buildRank = rankedMissing(tx)
		return setup(tx, path)
	}); err != nil {
		return nil, err
	}
	s := &Store{db: db, path: path, foldAt: max(o.foldAt, 1), rebuild: o.rebuild, rebuildN: rebuildChunk, foldN: foldChunk}
	if o.foldN > 0 {
		s.foldN = o.foldN
	}
	s.foldHook = o.foldHook
	s.hash = stageHash{seed: maphash.MakeSeed(), fn: o.stageHash}
	if o.rebuildN > 0 {
		s.rebuildN = o.rebuildN
	}
	err := db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bStaged)
		x, err := buildIndex(b, b.Sequence(), s.hash)
		if err != nil {
			return fmt.Errorf("boltstore: state file %s: %w: it is damaged (%w); %s", path, err, ErrDamaged, damagedHint)
		}
		s.idx.Store(x)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if buildRank {
		// a file written before the ranked index (version 2): built once
		err := s.Update(context.Background(), func(t sharing.Tx) error { return t.(*tx).buildRanked() })
		if err != nil {
			return nil, fmt.Errorf("boltstore: state file %s: build the ranked index: %w", path, err)
		}
	}
	return s, nil
}

// setup creates the buckets of a new file and checks those of an existing one.
func setup(tx *bolt.Tx, path string) error {
	meta := tx.Bucket(bMeta)
	if meta == nil {
		var foreign []byte
		_ = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			foreign = name
			return errors.New("stop")
		})
		if foreign != nil {
			return fmt.Errorf("boltstore: state file %s is not a cte store (it holds bucket %q but no cte marker): check the path", path, foreign)
		}
		var err error
		if meta, err = tx.CreateBucket(bMeta); err != nil {
			return fmt.Errorf("boltstore: initialise %s: %w", path, err)
		}
		if err := meta.Put(kFormat, []byte(format)); err != nil {
			return fmt.Errorf("boltstore: initialise %s: %w", path, err)
		}
		if err := meta.Put(kSchema, binary.AppendUvarint(nil, SchemaVersion)); err != nil {
			return fmt.Errorf("boltstore: initialise %s: %w", path, err)
		}
	}
	if f := meta.Get(kFormat); !bytes.Equal(f, []byte(format)) {
		return fmt.Errorf("boltstore: state file %s is not a cte store (format %q): check the path", path, f)
	}
	v, n := binary.Uvarint(meta.Get(kSchema))
	switch {
	case n <= 0:
		return fmt.Errorf("boltstore: state file %s has no readable schema version: it is damaged", path)
	case v > SchemaVersion:
		return fmt.Errorf("boltstore: state file %s has schema version %d, newer than this cte reads (%d): upgrade cte", path, v, SchemaVersion)
	case v < SchemaVersion:
		// version 2 adds the staging log, which an older cte would not read;
		// version 3 the ranked index, which an older cte would not keep;
		// version 4 writes the staging log in blobs, one per Update
		if b := tx.Bucket(bStaged); b != nil && v < 4 {
			if err := convertStaged(b); err != nil {
				return fmt.Errorf("boltstore: state file %s: upgrade the staging log: %w: it is damaged (%w); %s", path, err, ErrDamaged, damagedHint)
			}
		}
		if err := meta.Put(kSchema, binary.AppendUvarint(nil, SchemaVersion)); err != nil {
			return fmt.Errorf("boltstore: upgrade %s: %w", path, err)
		}
	}
	if tx.Bucket(bRebuild) != nil {
		// a rebuild a crash stopped: the records and the staging log are
		// whole without it (rebuildRecords)
		if err := tx.DeleteBucket(bRebuild); err != nil {
			return fmt.Errorf("boltstore: open %s: %w", path, err)
		}
	}
	// version 5 counts the ranked keys (bucket rankedN), which an older cte
	// would not keep: counted once from the ranked bucket
	count := tx.Bucket(bRankedN) == nil && tx.Bucket(bRanked) != nil
	for _, name := range allBuckets {
		if bytes.Equal(name, bRanked) {
			continue // made by buildRanked with its keys: a build that fails is tried again
		}
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("boltstore: initialise %s: %w", path, err)
		}
	}
	if count {
		if err := countRanked(tx); err != nil {
			return fmt.Errorf("boltstore: state file %s: count the ranked index: %w: it is damaged (%w); %s", path, err, ErrDamaged, damagedHint)
		}
	}
	return nil
}

// Path returns the file's path.
func (s *Store) Path() string { return s.path }

// View runs fn in a read-only transaction on a consistent snapshot.
func (s *Store) View(ctx context.Context, fn func(sharing.Tx) error) (err error) {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: view: %w", err)
	}
	defer s.recoverDamage(&err, nil)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	err = s.db.View(func(btx *bolt.Tx) error {
		t := newTx(ctx, btx, false, s)
		defer t.close()
		return fn(t)
	})
	return s.closedErr(err)
}

// recoverDamage turns the panic of a damaged page (bbolt's assertions, a
// fault on the memory map) into an ErrDamaged error; other panics go on.
// The failed Update's index change (t) is taken back.
func (s *Store) recoverDamage(err *error, t **tx) {
	v := recover()
	if v == nil {
		return
	}
	if t != nil && *t != nil && (*t).published {
		(*t).unpublish()
	}
	if !isDamage(v, raisedIn("go.etcd.io/bbolt")) {
		panic(v)
	}
	*err = fmt.Errorf("boltstore: %w: %s cannot be read (%v); %s", ErrDamaged, s.path, v, damagedHint)
}

// isDamage reports whether a panic comes from reading a damaged file: a
// memory fault, bbolt's assertions, or a runtime error (an index out of
// range) raised inside bbolt (inBolt), which reads a garbled page's counts
// and offsets as they are. A runtime error of cte's own code is no damage:
// it goes on.
func isDamage(v any, inBolt bool) bool {
	if _, ok := v.(interface{ Addr() uintptr }); ok { // a memory fault (SetPanicOnFault)
		return true
	}
	if _, ok := v.(runtime.Error); ok {
		return inBolt
	}
	msg, ok := v.(string)
	return ok && (strings.HasPrefix(msg, "assertion failed") || strings.Contains(msg, "invalid page type") || strings.Contains(msg, "unreachable"))
}

// raisedIn reports, called by a deferred recover while a panic unwinds,
// whether the function that panicked is in package pkg: the first frame
// below the runtime's panic frames.
func raisedIn(pkg string) bool {
	pcs := make([]uintptr, 32)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs)]) // above raisedIn and recoverDamage
	for {
		f, more := frames.Next()
		if !strings.HasPrefix(f.Function, "runtime.") {
			return strings.HasPrefix(f.Function, pkg+".") || strings.HasPrefix(f.Function, pkg+"/")
		}
		if !more {
			return false
		}
	}
}

// closedErr names the file when the store was closed.
func (s *Store) closedErr(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return fmt.Errorf("boltstore: %s: store is closed: %w", s.path, err)
	}
	return err
}

// Update runs fn in a read-write transaction. Its writes reach the disk
// (fsync) before Update returns nil; when fn returns an error or panics none of
// them do.
func (s *Store) Update(ctx context.Context, fn func(sharing.Tx) error) (err error) {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: update: %w", err)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var t *tx
	committed := false
	defer func() { // after recoverDamage: damage met after the commit
		if committed && errors.Is(err, ErrDamaged) {
			err = fmt.Errorf("boltstore: the update is stored; folding the staging log after it met a damaged page: %w", err)
		}
	}()
	defer s.recoverDamage(&err, &t)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	err = s.update(ctx, &t, func(t *tx) error { return fn(t) })
	committed = err == nil
	if err == nil && t.foldLater != nil {
		if err := s.foldNow(&t); err != nil {
			return fmt.Errorf("boltstore: the update is stored; folding the staging log failed (the log stays, and is folded later): %w", s.closedErr(err))
		}
	}
	return s.closedErr(err)
}

// foldNow makes the fold the Update (*tp) left to after its commit, with
// the newest staged versions it reads from the log. The caller holds wmu.
func (s *Store) foldNow(tp **tx) error {
	heads, err := s.loadHeads()
	if err != nil || len(heads) == 0 { // none: folded since (a Records call of the Update)
		return err
	}
	return (*tp).foldLater(s, tp, heads)
}

// update runs fn in one bbolt write transaction, as *tp (for
// recoverDamage): the staging index change is published just before the
// commit (Views skip versions above their snapshot) and taken back when the
// commit fails, and the transaction's buffers are left to the next. The
// caller holds wmu.
func (s *Store) update(ctx context.Context, tp **tx, fn func(*tx) error) error {
	err := s.db.Update(func(btx *bolt.Tx) error {
		t := newTx(ctx, btx, true, s)
		*tp = t
		defer t.close()
		if err := fn(t); err != nil {
			return err
		}
		if err := t.flushBlob(); err != nil {
			return err
		}
		t.published = true // a publish that fails halfway is taken back too
		return t.publish()
	})
	if t := *tp; t != nil {
		if err != nil && t.published {
			t.unpublish()
		}
		if err != nil && t.filtered {
			// built from this Update's records bucket, which the rollback
			// takes back: a record it deleted would be missing from it, and
			// taken for new by the next Merge (its entries lost)
			s.filter = nil
		}
		// committed, or taken back: nothing for recoverDamage to take back
		// (a damaged page met by a rebuild or a fold after this commit must
		// not hide what it committed)
		t.published = false
		s.spare = t.release() // bbolt holds none of it now
	}
	return err
}

// staged returns how many versions the staging log holds (about).
func (s *Store) staged() int {
	x := s.idx.Load()
	if x == nil {
		return 0
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.n
}

// closeFoldAt is the smallest staging log Close folds: 65,536 versions (or
// an eighth of foldAt, when the tests set it that small). A smaller log stays
// for the next Open to index (tens of milliseconds), because folding it would
// rewrite a leaf of the records bucket per value: 0.66 s of a 1%-new sync
// into a 1M-event store. It is folded later with the rest, once the log is
// worth it.
func (s *Store) closeFoldAt() int { return min(s.foldAt/8, 1<<16) }

// Close folds the staging log into the records when it holds enough
// (closeFoldAt; so that the next Open has no large index to rebuild) and
// closes the file, waiting for open transactions to end. A failed fold loses
// nothing: the log stays.
func (s *Store) Close() error {
	var ferr error
	if n := s.staged(); n > 0 && n >= s.closeFoldAt() {
		ferr = s.Update(context.Background(), func(t sharing.Tx) error { return t.(*tx).foldOrRebuild() })
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("boltstore: close %s: %w", s.path, err)
	}
	if ferr != nil && !errors.Is(ferr, berrors.ErrDatabaseNotOpen) {
		return fmt.Errorf("boltstore: close %s: fold the staging log: %w", s.path, ferr)
	}
	return nil
}

// withFoldAt sets how many staged record versions an Update folds into the
// records bucket (tests use small numbers to fold often).
func withFoldAt(n int) Option {
	return func(o *options) { o.foldAt = n }
}

// withRebuild makes every fold a Merge starts write the records bucket
// anew (rebuildRecords), however few values it folds, in transactions of n
// records: the tests use it to run that path on small stores.
func withRebuild(n int) Option {
	return func(o *options) { o.rebuild, o.rebuildN = true, n }
}

// withFoldChunk sets how many values a transaction of a fold made after its
// Update's commit puts (foldAfter), and so the largest fold made inside the
// Update: the tests use small numbers to run that path on small stores.
func withFoldChunk(n int) Option {
	return func(o *options) { o.foldN = n }
}

// withStageHash makes the staging index hash values with fn instead of
// maphash: the tests give it one under which many values share a hash.
func withStageHash(fn func(string) uint64) Option {
	return func(o *options) { o.stageHash = fn }
}

// withFoldHook makes each transaction of a fold after the commit call fn
// with its number, from 0, before its puts, and fail with its error: the
// tests use it to crash, fail or meet a damaged page in the middle of one.
func withFoldHook(fn func(part int) error) Option {
	return func(o *options) { o.foldHook = fn }
}
