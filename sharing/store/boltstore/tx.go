package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/internal/storeutil"
)

// tx wraps a bolt transaction.
type tx struct {
	ctx   context.Context
	btx   *bolt.Tx
	s     *Store
	write bool
	done  bool

	curStaged, curRecords *bolt.Cursor // for get

	// staging (see staging.go)
	idx       *index            // the store's index as this tx found it
	priv      bool              // idx was built for this View: its snapshot is older than the last fold
	max       uint64            // a View sees staged versions up to here
	pending   map[string]uint64 // an Update's staged versions by value
	direct    bool              // an Update writes records directly: staging is empty (folded)
	noPending bool              // Merge knows the value is not in pending
	newIdx    *index            // the index after this Update's fold
	seqBuf    [8]byte

	writes uint64 // bumped by every write; a scan re-seeks when it changed

	published bool // an Update's index change is visible to Views (see publish)

	arena []byte            // keys and values handed to Put live until commit
	enc   []byte            // encoding scratch
	stage []byte            // staged entry scratch
	key   []byte            // lookup scratch
	cache map[string]string // shared strings while decoding (sources, tags)
	mrec  sharing.Record    // reused by Merge
	mtag  []string
	one   [1]sharing.Entry
	order []int32
}

func newTx(ctx context.Context, btx *bolt.Tx, write bool, s *Store) *tx {
	// The snapshot is taken before the index is loaded: an index changed by a
	// later Update holds versions this View skips (above max), or, after a
	// fold, starts above max and is not used.
	t := &tx{ctx: ctx, btx: btx, s: s, write: write, idx: s.idx.Load()}
	if !write {
		t.max = btx.Bucket(bStaged).Sequence()
		t.priv = t.max < t.idx.base
	}
	return t
}

// view returns the index a View reads, building its own from the snapshot
// when the store's index started after it (a fold committed since).
func (t *tx) view() (*index, error) {
	if t.priv && t.idx.base > t.max {
		x, err := buildIndex(t.bucket(bStaged), 0)
		if err != nil {
			return nil, fmt.Errorf("boltstore: %w", err)
		}
		t.idx = x
	}
	return t.idx, nil
}

// stagedSeq returns the sequence of the staged version of value this tx sees.
func (t *tx) stagedSeq(value string) (uint64, bool, error) {
	if t.write {
		if t.direct {
			return 0, false, nil
		}
		if !t.noPending {
			if seq, ok := t.pending[value]; ok {
				return seq, true, nil
			}
		}
		seq, ok := t.idx.head(value)
		return seq, ok, nil
	}
	x, err := t.view()
	if err != nil {
		return 0, false, err
	}
	seq, ok := x.lookup(value, t.max)
	return seq, ok, nil
}

// getRecord returns the encoded record of value, nil when there is none. The
// bytes are valid until the next write.
func (t *tx) getRecord(value string) ([]byte, error) {
	seq, ok, err := t.stagedSeq(value)
	if err != nil {
		return nil, err
	}
	if ok {
		e := t.get(&t.curStaged, bStaged, seqKey(t.seqBuf[:0], seq))
		if e == nil {
			return nil, fmt.Errorf("boltstore: record %q: %w: staged version %d is missing", storeutil.Trunc(value), errCorrupt, seq)
		}
		_, rec, err := splitStaged(e)
		if err != nil {
			return nil, fmt.Errorf("boltstore: record %q: %w", storeutil.Trunc(value), err)
		}
		return rec, nil
	}
	t.key = append(t.key[:0], value...)
	if t.write && !t.s.filter.mayHave(t.key) {
		return nil, nil
	}
	return t.get(&t.curRecords, bRecords, t.key), nil
}

// get is Bucket.Get through a cursor kept for the tx: a Get allocates a
// cursor, and a View opens the bucket anew, each time. Seek starts from the
// root, so the cursor stays right after writes.
func (t *tx) get(c **bolt.Cursor, bucket, key []byte) []byte {
	if *c == nil {
		*c = t.bucket(bucket).Cursor()
	}
	k, v := (*c).Seek(key)
	if !bytes.Equal(k, key) {
		return nil
	}
	return v
}

// putKey puts a record into the records bucket and its key into the filter.
func (t *tx) putKey(b *bolt.Bucket, key, rec []byte) error {
	if err := t.put(b, key, rec); err != nil {
		return err
	}
	t.s.filter.add(key)
	if t.s.filter.full() {
		t.s.filter = buildFilter(b)
	}
	return nil
}

// putRecord stores the encoded record of value: appended to the staging log,
// or into the records bucket once this Update has folded it.
func (t *tx) putRecord(value string, rec []byte) error {
	if t.direct {
		t.key = append(t.key[:0], value...)
		return t.putKey(t.bucket(bRecords), t.key, rec)
	}
	b := t.bucket(bStaged)
	b.FillPercent = 1 // keys only grow: full leaves
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	t.stage = appendStaged(t.stage[:0], value, rec)
	if err := t.put(b, seqKey(t.seqBuf[:0], seq), t.stage); err != nil {
		return err
	}
	if t.pending == nil {
		t.pending = make(map[string]uint64)
	}
	if _, ok := t.pending[value]; ok {
		t.pending[value] = seq
	} else {
		// a copy: the caller's value may share a large string (a response body)
		t.pending[strings.Clone(value)] = seq
	}
	return nil
}

// staged returns how many record versions the staging log holds.
func (t *tx) staged() int { return t.idx.n + len(t.pending) }

// fold moves the newest staged version of every value into the records
// bucket, in value order, and empties the staging log; the rest of the Update
// writes records directly.
func (t *tx) fold() error {
	if t.direct {
		return nil
	}
	if t.staged() > 0 {
		// The log is read in order, the newest version of each value kept,
		// and those put into records in value order.
		type staged struct{ value, rec []byte }
		all := make([]staged, 0, t.staged())
		c := t.bucket(bStaged).Cursor()
		for k, e := c.First(); k != nil; k, e = c.Next() {
			value, rec, err := splitStaged(e)
			if err == nil && len(k) != 8 {
				err = fmt.Errorf("%w: the key is not a sequence number", errCorrupt)
			}
			if err != nil {
				return fmt.Errorf("boltstore: fold: staged entry %x: %w", k, err)
			}
			head, ok := t.pending[string(value)]
			if !ok {
				var v version
				v, ok = t.idx.m[string(value)]
				head = v.seq
			}
			if ok && head == binary.BigEndian.Uint64(k) {
				all = append(all, staged{value, rec})
			}
		}
		slices.SortFunc(all, func(a, b staged) int { return bytes.Compare(a.value, b.value) })
		rb := t.bucket(bRecords)
		for _, x := range all {
			if err := t.putKey(rb, x.value, x.rec); err != nil {
				return fmt.Errorf("boltstore: fold %q: %w", storeutil.Trunc(string(x.value)), err)
			}
		}
		seq := t.bucket(bStaged).Sequence() + 1
		if err := t.btx.DeleteBucket(bStaged); err != nil {
			return fmt.Errorf("boltstore: fold: %w", err)
		}
		b, err := t.btx.CreateBucket(bStaged)
		if err != nil {
			return fmt.Errorf("boltstore: fold: %w", err)
		}
		if err := b.SetSequence(seq); err != nil {
			return fmt.Errorf("boltstore: fold: %w", err)
		}
		t.newIdx = newIndex(seq)
		t.curStaged, t.curRecords = nil, nil // the bucket was replaced
	}
	t.direct, t.pending = true, nil
	return nil
}

// publish makes this Update's staging visible to the next transactions; it
// runs just before the commit.
func (t *tx) publish() {
	switch {
	case t.newIdx != nil:
		t.s.idx.Store(t.newIdx)
	case len(t.pending) > 0:
		t.idx.publish(t.pending)
	}
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

func (t *tx) readable() error {
	if t.done {
		return storeutil.ErrTxDone
	}
	return nil
}

func (t *tx) writable(op string) error {
	if t.done {
		return storeutil.ErrTxDone
	}
	if !t.write {
		return fmt.Errorf("boltstore: %s: %w", op, sharing.ErrReadOnly)
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
		t.arena = make([]byte, 0, max(64<<10, len(b)))
	}
	n := len(t.arena)
	t.arena = append(t.arena, b...)
	return t.arena[n:len(t.arena):len(t.arena)]
}

func (t *tx) put(b *bolt.Bucket, k, v []byte) error {
	return b.Put(t.keep(k), t.keep(v))
}

// Merge implements sharing.Tx.
func (t *tx) Merge(source string, in []ioc.Indicator, now time.Time) (sharing.MergeStats, error) {
	var st sharing.MergeStats
	if err := t.writable("merge"); err != nil {
		return st, err
	}
	if err := storeutil.CheckSource("source", source); err != nil {
		return st, fmt.Errorf("boltstore: merge: %w", err)
	}
	for i := range in {
		if err := storeutil.CheckIndicator(&in[i]); err != nil {
			return st, fmt.Errorf("boltstore: merge from %q: %w", source, err)
		}
	}
	// A failed Put below leaves the page half merged; the caller's Update
	// must then fail, which rolls the whole transaction back.
	now = storeutil.Time(now)
	// In value order the records bucket is walked left to right: each leaf
	// is found warm. The sort is stable, so a value twice in a page merges in
	// order.
	t.order = t.order[:0]
	for i := range in {
		t.order = append(t.order, int32(i))
	}
	slices.SortStableFunc(t.order, func(a, b int32) int { return cmpString(in[a].Value, in[b].Value) })
	// Before this Merge staged anything, a value can be pending only when it
	// is the one just merged: the pending map need not be searched.
	prior, prev := len(t.pending) > 0, ""
	changed := false
	for _, i := range t.order {
		x := &in[i]
		t.noPending = !prior && x.Value != prev
		prev = x.Value
		v, err := t.getRecord(x.Value)
		t.noPending = false
		if err != nil {
			return st, err
		}
		if v == nil {
			e := &t.one[0]
			*e = sharing.Entry{Indicator: *x, StoredAt: now}
			e.Source = source
			normTimes(e)
			t.enc = appendRecord(t.enc[:0], x.Type, t.one[:])
			e.Indicator = ioc.Indicator{}
			if err := t.putRecord(x.Value, t.enc); err != nil {
				return st, fmt.Errorf("boltstore: merge %q from %q: %w", storeutil.Trunc(x.Value), source, err)
			}
			st.New++
			changed = true
			continue
		}
		r := &t.mrec
		if err := decodeRecord(x.Value, v, r, &t.mtag, t.str); err != nil {
			return st, fmt.Errorf("boltstore: record %q: %w", storeutil.Trunc(x.Value), err)
		}
		pos, found := slices.BinarySearchFunc(r.Entries, source, func(e sharing.Entry, s string) int {
			return cmpString(e.Source, s)
		})
		if found {
			e := &r.Entries[pos]
			old := *e
			e.Indicator = ioc.Merge(e.Indicator, *x)
			e.Source = source
			e.Inactive, e.InactiveAt, e.StoredAt = false, time.Time{}, now
			normTimes(e)
			st.Updated++
			changed = changed || storeutil.SeenChange(&old, e)
		} else {
			e := sharing.Entry{Indicator: *x, StoredAt: now}
			e.Source = source
			normTimes(&e)
			r.Entries = slices.Insert(r.Entries, pos, e)
			st.Added++
			changed = true
		}
		t.enc = appendRecord(t.enc[:0], r.Type, r.Entries)
		if err := t.putRecord(x.Value, t.enc); err != nil {
			return st, fmt.Errorf("boltstore: merge %q from %q: %w", storeutil.Trunc(x.Value), source, err)
		}
	}
	if changed {
		if err := t.bump(source); err != nil {
			return st, err
		}
	}
	if !t.direct && t.staged() >= t.s.foldAt {
		if err := t.fold(); err != nil {
			return st, err
		}
	}
	return st, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func normTimes(e *sharing.Entry) {
	e.FirstSeen = storeutil.Time(e.FirstSeen)
	e.LastSeen = storeutil.Time(e.LastSeen)
	e.ExpiresAt = storeutil.Time(e.ExpiresAt)
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
	if err := decodeRecord(value, v, &r, &tags, plain); err != nil {
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
			if errors.Is(err, sharing.ErrStop) {
				return nil
			}
			return err
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
	x, err := t.view()
	if err != nil {
		return err
	}
	staged := x.values(t.max)
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
		case len(staged) > 0 && (k == nil || staged[0] <= string(k)):
			value, staged = staged[0], staged[1:]
			if k != nil && string(k) == value {
				k, v = c.Next()
			}
			if enc, err = t.getRecord(value); err != nil {
				return err
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
			if errors.Is(err, sharing.ErrStop) {
				return nil
			}
			return err
		}
	}
}

// SetInactive implements sharing.Tx. An entry already inactive keeps the time
// it became so.
func (t *tx) SetInactive(source string, values []string, at time.Time) error {
	if err := t.writable("set inactive"); err != nil {
		return err
	}
	at = storeutil.Time(at)
	r := &t.mrec
	changed := false
	for _, value := range values {
		v, err := t.getRecord(value)
		if err != nil {
			return err
		}
		if v == nil {
			continue
		}
		if err := decodeRecord(value, v, r, &t.mtag, t.str); err != nil {
			return fmt.Errorf("boltstore: record %q: %w", value, err)
		}
		e, ok := r.Entry(source)
		if !ok || e.Inactive {
			continue
		}
		e.Inactive, e.InactiveAt = true, at
		t.enc = appendRecord(t.enc[:0], r.Type, r.Entries)
		if err := t.putRecord(value, t.enc); err != nil {
			return fmt.Errorf("boltstore: set %q inactive: %w", value, err)
		}
		changed = true
	}
	if changed {
		return t.bump(source)
	}
	return nil
}

// bump increases the version of source (see sharing.Tx.Version).
func (t *tx) bump(source string) error {
	b := t.bucket(bVersions)
	n := uint64(0)
	if v := b.Get([]byte(source)); len(v) == 8 {
		n = binary.BigEndian.Uint64(v)
	}
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], n+1)
	if err := t.put(b, []byte(source), buf[:]); err != nil {
		return fmt.Errorf("boltstore: version of %q: %w", source, err)
	}
	return nil
}

// Version implements sharing.Tx.
func (t *tx) Version(source string) (uint64, error) {
	if err := t.readable(); err != nil {
		return 0, err
	}
	v := t.bucket(bVersions).Get([]byte(source))
	switch len(v) {
	case 0:
		return 0, nil
	case 8:
		return binary.BigEndian.Uint64(v), nil
	}
	return 0, fmt.Errorf("boltstore: version of %q: %w: %d bytes", source, errCorrupt, len(v))
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

// Ledger implements sharing.Tx.
func (t *tx) Ledger(config, value string) (sharing.LedgerEntry, bool, error) {
	if err := t.readable(); err != nil {
		return sharing.LedgerEntry{}, false, err
	}
	b := t.bucket(bLedger).Bucket([]byte(config))
	if b == nil {
		return sharing.LedgerEntry{}, false, nil
	}
	v := b.Get([]byte(value))
	if v == nil {
		return sharing.LedgerEntry{}, false, nil
	}
	e := sharing.LedgerEntry{Value: value}
	if err := decodeLedger(v, &e); err != nil {
		return sharing.LedgerEntry{}, false, fmt.Errorf("boltstore: ledger %q of %q: %w", value, config, err)
	}
	return e, true, nil
}

// LedgerEntries implements sharing.Tx. fn must not write to the ledger of the
// same configuration.
func (t *tx) LedgerEntries(config string, fn func(e *sharing.LedgerEntry) error) error {
	if err := t.readable(); err != nil {
		return err
	}
	b := t.bucket(bLedger).Bucket([]byte(config))
	if b == nil {
		return nil
	}
	return t.scan(b.Cursor(), "ledger entries", func(k, v []byte) error {
		e := sharing.LedgerEntry{Value: string(k)}
		if err := decodeLedger(v, &e); err != nil {
			return fmt.Errorf("boltstore: ledger %q of %q: %w", k, config, err)
		}
		return fn(&e)
	})
}

// PutLedger implements sharing.Tx.
func (t *tx) PutLedger(config string, entries []sharing.LedgerEntry) error {
	if err := t.writable("put ledger"); err != nil {
		return err
	}
	if err := storeutil.CheckLedger(config, entries); err != nil {
		return fmt.Errorf("boltstore: put ledger: %w", err)
	}
	if len(entries) == 0 {
		return nil
	}
	b, err := t.bucket(bLedger).CreateBucketIfNotExists([]byte(config))
	if err != nil {
		return fmt.Errorf("boltstore: put ledger of %q: %w", config, err)
	}
	// In key order: bolt inserts into a node's sorted slice, and random
	// order shifts it for every put (quadratic in the entries of a node).
	// The last entry of a value wins, as if put one by one.
	order := make([]int32, len(entries))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortStableFunc(order, func(a, b int32) int { return cmpString(entries[a].Value, entries[b].Value) })
	for k, i := range order {
		e := &entries[i]
		if k+1 < len(order) && entries[order[k+1]].Value == e.Value {
			continue
		}
		t.enc = appendLedger(t.enc[:0], e)
		if err := t.put(b, []byte(e.Value), t.enc); err != nil {
			return fmt.Errorf("boltstore: put ledger %q of %q: %w", e.Value, config, err)
		}
	}
	return nil
}

// AppliedSet implements sharing.Tx.
func (t *tx) AppliedSet(config string) (sharing.AppliedSet, bool, error) {
	var a sharing.AppliedSet
	ok, err := t.getJSON(bApplied, config, &a)
	if err != nil {
		return sharing.AppliedSet{}, false, err
	}
	a.At = storeutil.Time(a.At)
	return a, ok, nil
}

// PutAppliedSet implements sharing.Tx.
func (t *tx) PutAppliedSet(config string, a sharing.AppliedSet) error {
	if err := t.writable("put applied set"); err != nil {
		return err
	}
	if err := storeutil.CheckSource("sharing configuration", config); err != nil {
		return fmt.Errorf("boltstore: put applied set: %w", err)
	}
	a.At = storeutil.Time(a.At)
	return t.putJSON(bApplied, []byte(config), a)
}

func (t *tx) getJSON(bucket []byte, key string, v any) (bool, error) {
	if err := t.readable(); err != nil {
		return false, err
	}
	b := t.bucket(bucket).Get([]byte(key))
	if b == nil {
		return false, nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("boltstore: %s %q: %w", bucket, key, err)
	}
	return true, nil
}

func (t *tx) putJSON(bucket, key []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("boltstore: encode %s %q: %w", bucket, key, err)
	}
	if err := t.bucket(bucket).Put(key, b); err != nil {
		return fmt.Errorf("boltstore: put %s %q: %w", bucket, key, err)
	}
	return nil
}

// Log implements sharing.Tx.
func (t *tx) Log(e sharing.AuditEntry) error {
	if err := t.writable("log"); err != nil {
		return err
	}
	b := t.bucket(bAudit)
	seq, err := b.NextSequence()
	if err != nil {
		return fmt.Errorf("boltstore: log: %w", err)
	}
	e.Seq = seq
	e.Time = storeutil.Time(e.Time)
	return t.putJSON(bAudit, binary.BigEndian.AppendUint64(nil, seq), e)
}

// PruneLogs implements sharing.Tx. Keys are sequence numbers in the order the
// entries were logged, so it deletes from the first key while the entry's Time
// is before the cutoff, decoding only the time of the entries it reads. The
// bucket's sequence is untouched: numbers are never reused.
func (t *tx) PruneLogs(before time.Time) (int, error) {
	if err := t.writable("prune logs"); err != nil {
		return 0, err
	}
	before = storeutil.Time(before)
	b := t.bucket(bAudit)
	c := b.Cursor()
	n := 0
	// After a Delete, First finds the next key (Next after Delete can skip one).
	for k, v := c.First(); k != nil; k, v = c.First() {
		var e struct{ Time time.Time }
		if err := json.Unmarshal(v, &e); err != nil {
			return n, fmt.Errorf("boltstore: prune logs: audit entry %x: %w", k, err)
		}
		if !e.Time.Before(before) {
			break
		}
		if err := c.Delete(); err != nil {
			return n, fmt.Errorf("boltstore: prune logs: delete %x: %w", k, err)
		}
		n++
	}
	return n, nil
}

// Logs implements sharing.Tx. With a Limit it reads from the newest entry back.
func (t *tx) Logs(f sharing.LogFilter, fn func(e sharing.AuditEntry) error) error {
	if err := t.readable(); err != nil {
		return err
	}
	since := storeutil.Time(f.Since)
	pass := func(e *sharing.AuditEntry) bool {
		return e.Level >= f.MinLevel && (f.Config == "" || e.Config == f.Config) && !e.Time.Before(since)
	}
	decode := func(k, v []byte) (sharing.AuditEntry, error) {
		var e sharing.AuditEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return e, fmt.Errorf("boltstore: audit entry %x: %w", k, err)
		}
		e.Time = storeutil.Time(e.Time)
		return e, nil
	}
	call := func(e sharing.AuditEntry) (bool, error) {
		if err := fn(e); err != nil {
			if errors.Is(err, sharing.ErrStop) {
				return true, nil
			}
			return true, err
		}
		return false, nil
	}
	c := t.bucket(bAudit).Cursor()
	if f.Limit <= 0 {
		for k, v := c.First(); k != nil; k, v = c.Next() {
			e, err := decode(k, v)
			if err != nil {
				return err
			}
			if !pass(&e) {
				continue
			}
			if stop, err := call(e); stop {
				return err
			}
		}
		return nil
	}
	var picked []sharing.AuditEntry
	for k, v := c.Last(); k != nil && len(picked) < f.Limit; k, v = c.Prev() {
		e, err := decode(k, v)
		if err != nil {
			return err
		}
		if pass(&e) {
			picked = append(picked, e)
		}
	}
	for i := len(picked) - 1; i >= 0; i-- {
		if stop, err := call(picked[i]); stop {
			return err
		}
	}
	return nil
}

// RunState implements sharing.Tx.
func (t *tx) RunState(name string) (sharing.RunState, bool, error) {
	var r sharing.RunState
	ok, err := t.getJSON(bRuns, name, &r)
	if err != nil {
		return sharing.RunState{}, false, err
	}
	r.LastRun, r.LastOK, r.Until = storeutil.Time(r.LastRun), storeutil.Time(r.LastOK), storeutil.Time(r.Until)
	return r, ok, nil
}

// PutRunState implements sharing.Tx.
func (t *tx) PutRunState(r sharing.RunState) error {
	if err := t.writable("put run state"); err != nil {
		return err
	}
	if err := storeutil.CheckSource("run state", r.Name); err != nil {
		return fmt.Errorf("boltstore: put run state: %w", err)
	}
	r.LastRun, r.LastOK, r.Until = storeutil.Time(r.LastRun), storeutil.Time(r.LastOK), storeutil.Time(r.Until)
	return t.putJSON(bRuns, []byte(r.Name), r)
}
