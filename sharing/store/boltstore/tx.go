package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/internal/storeutil"
	bolt "go.etcd.io/bbolt"
)

// tx wraps a bolt transaction.
type tx struct {
	ctx   context.Context
	btx   *bolt.Tx
	s     *Store
	write bool
	done  bool

	curStaged, curRecords keyCursor  // for get
	blobs                 *blobTable // a View's log, once it read many staged versions (stagedBlob)
	stagedReads           int
	ledgerName            string // the ledger bucket ledgerCur is of
	ledgerCur             keyCursor

	// staging (see staging.go)
	idx         *index            // the store's index as this tx found it
	priv        bool              // idx was built for this View: its snapshot is older than the last fold
	max         uint64            // a View sees staged versions up to here
	pending     map[string]uint64 // an Update's staged versions (refs) by value
	pendingHint int               // room to make in pending: the size of the page being merged
	blob        []byte            // an Update's blob not yet put (its versions are in pending)
	blobSeq     uint64            // blob's sequence; 0 while none is open
	direct      bool              // an Update writes records directly: staging is empty (folded)
	noPending   bool              // Merge knows the value is not in pending
	newIdx      *index            // the index after this Update's fold
	seqBuf      [8]byte

	writes uint64 // bumped by every write; a scan re-seeks when it changed

	published bool // an Update's index change is visible to Views (see publish)
	// filtered: this Update built the key filter from its own records
	// bucket, which a failed Update takes back (update drops the filter)
	filtered bool
	// foldLater is the fold left to after the commit (foldOrRebuild):
	// rebuildRecords or foldAfter, given the newest staged versions in value
	// order (foldNow); nil when none is
	foldLater func(s *Store, tp **tx, heads []uint64) error

	arena  []byte            // keys and values handed to Put live until commit
	full   [][]byte          // the arena's chunks before the current one
	free   [][]byte          // chunks of an earlier Update, emptied (txSpare)
	enc    []byte            // encoding scratch
	key    []byte            // lookup scratch
	cache  map[string]string // shared strings while decoding (sources, tags)
	mrec   sharing.Record    // reused by Merge
	mtag   []string
	one    [1]sharing.Entry
	order  storeutil.PageOrder // Merge's page order
	rkey   []byte              // ranked key scratch
	rkey2  []byte
	rops   []rankOp    // ranked key changes not yet applied (flushRank)
	rkeys  []byte      // their keys
	rorder []int32     // rops in key order (flushRank)
	rankN  []rankDelta // changes to bucket rankedN not yet applied (flushRank)
}

func newTx(ctx context.Context, btx *bolt.Tx, write bool, s *Store) *tx {
	// The snapshot is taken before the index is loaded: an index changed by a
	// later Update holds versions this View skips (above max), or, after a
	// fold, starts above max and is not used.
	t := &tx{ctx: ctx, btx: btx, s: s, write: write, idx: s.idx.Load()}
	if !write {
		t.max = btx.Bucket(bStaged).Sequence()
		t.priv = t.max < t.idx.base
		return t
	}
	sp := &s.spare // Updates run one at a time (wmu)
	t.free, t.rops, t.rkeys, t.rorder, t.enc, t.key, t.order = sp.free, sp.rops, sp.rkeys, sp.rorder, sp.enc, sp.key, sp.order
	*sp = txSpare{}
	return t
}

// view returns the index a View reads, building its own from the snapshot
// when the store's index started after it (a fold committed since).
func (t *tx) view() (*index, error) {
	if t.priv && t.idx.base > t.max {
		x, err := buildIndex(t.bucket(bStaged), 0, t.s.hash)
		if err != nil {
			return nil, fmt.Errorf("boltstore: %w", err)
		}
		t.idx = x
	}
	return t.idx, nil
}

// stagedRef returns the ref the index names for value in this tx: of
// value's staged version this tx sees, or of another staged value with the
// same hash (stagedVersion checks the entry).
func (t *tx) stagedRef(value string) (uint64, bool, error) {
	if t.write {
		if t.direct {
			return 0, false, nil
		}
		if !t.noPending {
			if ref, ok := t.pending[value]; ok {
				return ref, true, nil
			}
		}
		ref, ok := t.idx.head(value)
		return ref, ok, nil
	}
	x, err := t.view()
	if err != nil {
		return 0, false, err
	}
	ref, ok := x.lookup(value, t.max)
	return ref, ok, nil
}

// stagedVersion returns the encoded record of value's staged version this
// tx sees, and whether it has one: an empty record is a tombstone, a record
// deleted (DeleteRecord). The bytes are valid until the next write.
func (t *tx) stagedVersion(value string) ([]byte, bool, error) {
	ref, ok, err := t.stagedRef(value)
	if err != nil || !ok {
		return nil, false, err
	}
	var blob []byte
	if seq := refSeq(ref); t.write && seq == t.blobSeq {
		blob = t.blob
	} else if blob, err = t.stagedBlob(seq); err != nil {
		return nil, false, err
	} else if blob == nil {
		return nil, false, fmt.Errorf("boltstore: record %q: %w: staged blob %d is missing", storeutil.Trunc(value), errCorrupt, seq)
	}
	v, rec, _, err := entryAt(blob, refOff(ref))
	switch {
	case err != nil:
		return nil, false, fmt.Errorf("boltstore: record %q: %w", storeutil.Trunc(value), err)
	case string(v) == value:
		return rec, true, nil
	case t.idx.hash.bytes(v) != t.idx.hash.str(value):
		// not a value the index could have named for this one
		return nil, false, fmt.Errorf("boltstore: record %q: %w: staged entry %d:%d holds another value", storeutil.Trunc(value), errCorrupt, refSeq(ref), refOff(ref))
	}
	return nil, false, nil // another staged value with the same hash: this one is not staged
}

// getRecord returns the encoded record of value, nil when there is none. The
// bytes are valid until the next write.
func (t *tx) getRecord(value string) ([]byte, error) {
	if rec, ok, err := t.stagedVersion(value); ok || err != nil {
		if len(rec) == 0 {
			return nil, err // a tombstone
		}
		return rec, err
	}
	t.key = append(t.key[:0], value...)
	if f := t.keyFilter(); f != nil && !f.mayHave(t.key) {
		return nil, nil
	}
	return t.get(&t.curRecords, bRecords, t.key), nil
}

// get is Bucket.Get through a cursor kept for the tx: a Get allocates a
// cursor, and a View opens the bucket anew, each time.
func (t *tx) get(c *keyCursor, bucket, key []byte) []byte {
	if c.c == nil {
		c.c = t.bucket(bucket).Cursor()
	}
	return c.get(key, !t.write)
}

// putKey puts a record into the records bucket and its key into the filter.
func (t *tx) putKey(b *bolt.Bucket, key, rec []byte) error {
	if err := t.put(b, key, rec); err != nil {
		return err
	}
	if f := t.s.filter; f != nil {
		f.add(key)
		if f.full() {
			t.s.filter, t.filtered = buildFilter(b), true
		}
	}
	return nil
}

// filterAfter is how many record lookups of Updates (Merge) a Store makes
// before it builds the key filter: building it reads every key of the
// records bucket, which a sync with little new (a few thousand lookups)
// should not pay at every open.
const filterAfter = 1 << 17

// keyFilter returns the key filter for a lookup of an Update, building it
// once enough lookups were made; nil means look the key up.
func (t *tx) keyFilter() *keyFilter {
	s := t.s
	switch {
	case !t.write:
		return nil
	case s.filter == nil:
		if s.lookups++; s.lookups >= filterAfter {
			s.filter, t.filtered = buildFilter(t.bucket(bRecords)), true
		}
	}
	return s.filter
}

// putRecord stores the encoded record of value: appended to the Update's
// blob of the staging log (put when the Update ends, flushBlob), or into the
// records bucket once this Update has folded it.
func (t *tx) putRecord(value string, rec []byte) error {
	if t.direct {
		t.key = append(t.key[:0], value...)
		return t.putKey(t.bucket(bRecords), t.key, rec)
	}
	if t.blobSeq != 0 && len(t.blob)+len(value)+len(rec)+2*binary.MaxVarintLen32 > maxBlob {
		if err := t.flushBlob(); err != nil {
			return err
		}
	}
	if t.blobSeq == 0 {
		seq, err := t.bucket(bStaged).NextSequence()
		if err != nil {
			return err
		}
		t.blobSeq, t.blob = seq, t.blob[:0]
	}
	ref := makeRef(t.blobSeq, len(t.blob))
	t.blob = appendStagedEntry(t.blob, value, rec)
	if t.pending == nil {
		t.pending = make(map[string]uint64, t.pendingHint)
	}
	if _, ok := t.pending[value]; ok {
		t.pending[value] = ref
	} else {
		// a copy: the caller's value may share a large string (a response body)
		t.pending[strings.Clone(value)] = ref
	}
	return nil
}

// flushBlob puts the Update's open blob into the staging log: one value,
// appended at the end of the bucket (a copy: bbolt keeps the bytes until the
// commit, and the buffer is reused).
func (t *tx) flushBlob() error {
	if t.blobSeq == 0 {
		return nil
	}
	b := t.bucket(bStaged)
	b.FillPercent = 1 // keys only grow: full leaves
	if err := t.put(b, seqKey(t.seqBuf[:0], t.blobSeq), t.blob); err != nil {
		return fmt.Errorf("boltstore: staging log: %w", err)
	}
	t.blob, t.blobSeq = t.blob[:0], 0
	return nil
}

// staged returns how many record versions the staging log holds, about (an
// Update's repeats of a value count once).
func (t *tx) staged() int { return t.idx.n + len(t.pending) }

// fold moves the newest staged version of every value into the records
// bucket, in value order, and empties the staging log; the rest of the Update
// writes records directly.
func (t *tx) fold() error {
	if t.direct {
		return nil
	}
	if err := t.flushBlob(); err != nil {
		return err
	}
	if t.staged() > 0 {
		if err := t.foldAll(); err != nil {
			return fmt.Errorf("boltstore: fold: %w", err)
		}
	}
	t.direct, t.pending = true, nil
	return nil
}

// emptyStaged empties the staging log once its versions are in the records
// bucket: a new bucket whose sequence goes on after the old one's, so that a
// View begun before the commit reads its own index of its snapshot (base).
func (t *tx) emptyStaged() error {
	seq := t.bucket(bStaged).Sequence() + 1
	if err := t.btx.DeleteBucket(bStaged); err != nil {
		return err
	}
	b, err := t.btx.CreateBucket(bStaged)
	if err != nil {
		return err
	}
	if err := b.SetSequence(seq); err != nil {
		return err
	}
	// A fold in the middle of an ingest is followed by as many versions
	// again: room for what this index held (not beyond seenKeys).
	t.newIdx = newIndex(seq, min(t.idx.n, seenKeys), t.s.hash)
	t.curStaged, t.curRecords = keyCursor{}, keyCursor{} // the buckets were replaced
	return nil
}

// fillFor sets how full b's split leaves are for puts in key order from
// first on: full when every key goes after the last one (half the pages to
// write and to read), bbolt's default when keys land among the others.
func fillFor(b *bolt.Bucket, first []byte) {
	if last, _ := b.Cursor().Last(); last == nil || bytes.Compare(first, last) > 0 {
		b.FillPercent = 1
	} else {
		b.FillPercent = bolt.DefaultFillPercent
	}
}

// publish makes this Update's staging visible to the next transactions; it
// runs just before the commit.
func (t *tx) publish() error {
	switch {
	case t.newIdx != nil:
		t.s.idx.Store(t.newIdx)
	case len(t.pending) > 0:
		return t.idx.publish(t.pending, t.stagedValue)
	}
	return nil
}

// stagedValue returns the value of the staged entry ref names (its blob is
// committed, or put by this Update).
func (t *tx) stagedValue(ref uint64) ([]byte, error) {
	blob, err := t.stagedBlob(refSeq(ref))
	if err != nil {
		return nil, err
	}
	if blob == nil {
		return nil, fmt.Errorf("%w: staged blob %d is missing", errCorrupt, refSeq(ref))
	}
	v, _, _, err := entryAt(blob, refOff(ref))
	return v, err
}

// unpublish takes publish back when the commit failed.
func (t *tx) unpublish() {
	switch {
	case t.newIdx != nil:
		t.s.idx.Store(t.idx)
	case len(t.pending) > 0:
		t.idx.unpublish(t.pending)
	}
}

func (t *tx) close() { t.done = true }

func (t *tx) readable() error { return storeutil.Readable(t.done) }

// writable also counts the write, so scan knows its cursor must seek again.
func (t *tx) writable(op string) error {
	if err := storeutil.Writable("boltstore", op, t.done, t.write); err != nil {
		return err
	}
	t.writes++
	return nil
}

func (t *tx) bucket(name []byte) *bolt.Bucket { return t.btx.Bucket(name) }

// str returns b as a string, sharing the strings that repeat.
func (t *tx) str(b []byte) string {
	if s, ok := t.cache[string(b)]; ok {
		return s
	}
	s := string(b)
	if t.cache == nil {
		t.cache = make(map[string]string)
	}
	if len(t.cache) < 4096 {
		t.cache[s] = s
	}
	return s
}

// keep copies b into the tx's arena: bolt keeps the slices given to Put until
// the commit.
func (t *tx) keep(b []byte) []byte {
	if cap(t.arena)-len(t.arena) < len(b) {
		if t.arena != nil {
			t.full = append(t.full, t.arena)
		}
		t.arena = nil
		if n := len(t.free); n > 0 && cap(t.free[n-1]) >= len(b) {
			t.arena, t.free = t.free[n-1], t.free[:n-1]
		} else {
			t.arena = make([]byte, 0, max(64<<10, len(b)))
		}
	}
	n := len(t.arena)
	t.arena = append(t.arena, b...)
	return t.arena[n:len(t.arena):len(t.arena)]
}

func (t *tx) put(b *bolt.Bucket, k, v []byte) error {
	return b.Put(t.keep(k), t.keep(v))
}

// Record implements sharing.Tx.
func (t *tx) Record(value string) (sharing.Record, bool, error) {
	if err := t.readable(); err != nil {
		return sharing.Record{}, false, err
	}
	v, err := t.getRecord(value)
	if err != nil || v == nil {
		return sharing.Record{}, false, err
	}
	var r sharing.Record
	var tags []string
	if err := decodeRecord(value, v, &r, &tags, t.str); err != nil {
		return sharing.Record{}, false, fmt.Errorf("boltstore: record %q: %w", value, err)
	}
	return r, true, nil
}

// Records implements sharing.Tx. Writes made by fn (for example SetInactive
// on the record it was given) are safe: the scan finds its place again after
// them. It checks the transaction's context every 1,024 records.
func (t *tx) Records(fn func(r *sharing.Record) error) error {
	if err := t.readable(); err != nil {
		return err
	}
	if !t.write {
		return t.viewRecords(fn)
	}
	// Writes made by fn must be found by the scan: the staging log is folded
	// first and the rest of the Update writes records directly.
	if err := t.fold(); err != nil {
		return err
	}
	// the buffers are this call's own, so a scan inside fn cannot clobber them
	var out sharing.Record
	var tags []string
	return t.scan(t.bucket(bRecords).Cursor(), "records", func(k, v []byte) error {
		if err := decodeRecord(string(k), v, &out, &tags, t.str); err != nil {
			return fmt.Errorf("boltstore: record %q: %w", k, err)
		}
		return fn(&out)
	})
}

// scan calls visit for each key of c in order, in a write transaction whose
// visit may write: after a write the cursor is no longer valid, so the scan seeks
// its place again and goes on after the key it visited. It checks the
// transaction's context every 1,024 keys; ErrStop from visit ends it without error.
func (t *tx) scan(c *bolt.Cursor, what string, visit func(k, v []byte) error) error {
	var last []byte
	n := 0
	for k, v := c.First(); k != nil; n++ {
		if n&1023 == 1023 {
			if err := t.ctx.Err(); err != nil {
				return fmt.Errorf("boltstore: %s: %w", what, err)
			}
		}
		last = append(last[:0], k...)
		w := t.writes
		if err := visit(k, v); err != nil {
			return storeutil.EndScan(err)
		}
		if t.writes == w {
			k, v = c.Next()
			continue
		}
		if k, v = c.Seek(last); k != nil && string(k) == string(last) {
			k, v = c.Next()
		}
	}
	return nil
}

// viewRecords is Records in a View: the records bucket and the staged values
// merged in value order, a staged version winning over the bucket's.
func (t *tx) viewRecords(fn func(r *sharing.Record) error) error {
	if t.blobs == nil {
		var err error
		if t.blobs, err = readBlobs(t.bucket(bStaged)); err != nil {
			return fmt.Errorf("boltstore: records: %w", err)
		}
	}
	staged, err := t.blobs.newest(0)
	if err != nil {
		return fmt.Errorf("boltstore: records: %w", err)
	}
	// sv and senc: the value and record of staged[0], the next staged one
	var sv, senc []byte
	nextStaged := func() (err error) {
		if len(staged) > 0 {
			sv, senc, err = t.blobs.record(staged[0])
		}
		return err
	}
	if err := nextStaged(); err != nil {
		return fmt.Errorf("boltstore: records: %w", err)
	}
	var out sharing.Record
	var tags []string
	c := t.bucket(bRecords).Cursor()
	k, v := c.First()
	for n := 0; ; n++ {
		if n&1023 == 1023 {
			if err := t.ctx.Err(); err != nil {
				return fmt.Errorf("boltstore: records: %w", err)
			}
		}
		var value string
		var enc []byte
		switch {
		case len(staged) > 0 && (k == nil || bytes.Compare(sv, k) <= 0):
			value, enc = string(sv), senc
			staged = staged[1:]
			if err := nextStaged(); err != nil {
				return fmt.Errorf("boltstore: records: %w", err)
			}
			if k != nil && string(k) == value {
				k, v = c.Next()
			}
			if len(enc) == 0 {
				continue // a tombstone: deleted
			}
		case k != nil:
			value, enc = string(k), v
			k, v = c.Next()
		default:
			return nil
		}
		if err := decodeRecord(value, enc, &out, &tags, t.str); err != nil {
			return fmt.Errorf("boltstore: record %q: %w", storeutil.Trunc(value), err)
		}
		if err := fn(&out); err != nil {
			return storeutil.EndScan(err)
		}
	}
}

// Checkpoint implements sharing.Tx.
func (t *tx) Checkpoint(source string) (cte.Checkpoint, error) {
	if err := t.readable(); err != nil {
		return nil, err
	}
	v := t.bucket(bCheckpoints).Get([]byte(source))
	if len(v) == 0 {
		return nil, nil
	}
	return append(cte.Checkpoint{}, v[1:]...), nil
}

// SetCheckpoint implements sharing.Tx. A nil checkpoint forgets the source's
// position, so its next pull is a first run.
func (t *tx) SetCheckpoint(source string, cp cte.Checkpoint) error {
	if err := t.writable("set checkpoint"); err != nil {
		return err
	}
	if err := storeutil.CheckSource("source", source); err != nil {
		return fmt.Errorf("boltstore: set checkpoint: %w", err)
	}
	b := t.bucket(bCheckpoints)
	if cp == nil {
		if err := b.Delete([]byte(source)); err != nil {
			return fmt.Errorf("boltstore: reset checkpoint of %q: %w", source, err)
		}
		return nil
	}
	// a leading byte tells an empty checkpoint from none
	if err := b.Put([]byte(source), append([]byte{1}, cp...)); err != nil {
		return fmt.Errorf("boltstore: set checkpoint of %q: %w", source, err)
	}
	return nil
}
