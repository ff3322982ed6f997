package boltstore

// This file keeps bucket ranked: every active entry of every source under a
// key that sorts it in the order a Replace target is packed (see
// sharing.RankedTx), so the engine reads a source by priority and stops once
// the target is full.

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/internal/storeutil"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

var _ sharing.RankedTx = (*tx)(nil)

// rankPrefix returns the key prefix of source's entries: its length-prefixed
// name, so that no source's keys fall inside another's.
func rankPrefix(dst []byte, source string) []byte { return appendStr(dst, source) }

// rankKey returns the ranked key of an active entry of value: the source
// prefix, 255 minus the severity, LastSeen's Unix nanoseconds made unsigned
// and inverted (newest first), then the value.
func rankKey(dst []byte, value string, e *sharing.Entry) []byte {
	dst = rankPrefix(dst, e.Source)
	dst = append(dst, 255-byte(e.Severity))
	dst = binary.BigEndian.AppendUint64(dst, rankSeen(e.LastSeen.UnixNano()))
	return append(dst, value...)
}

// rank moves value's ranked key from entry old to entry new of the same
// source; either may be nil (no entry), and an inactive entry has no key.
// Ranked keys are written to their bucket directly, not staged: both are in
// the same bbolt transaction, so every snapshot sees the index of its own
// records, and a fold (which changes no record) leaves it as it is. The keys
// of a page are close together (a feed's new values share their LastSeen),
// so the puts land on few leaves.
func (t *tx) rank(value string, old, new *sharing.Entry) error {
	var ok, nk []byte
	if old != nil && !old.Inactive {
		ok = rankKey(t.rkey[:0], value, old)
		t.rkey = ok
	}
	if new != nil && !new.Inactive {
		nk = rankKey(t.rkey2[:0], value, new)
		t.rkey2 = nk
	}
	if ok != nil && nk != nil && bytes.Equal(ok, nk) && old.Type == new.Type {
		return nil
	}
	if ok != nil {
		t.addRankOp(ok, false, 0)
		t.countRank(old.Source, old.Type, -1)
	}
	if nk != nil {
		t.addRankOp(nk, true, byte(new.Type))
		t.countRank(new.Source, new.Type, 1)
	}
	return nil
}

// rankDelta is how the keys of bucket rankedN of one source change in an
// Update, by type, until flushRank applies them.
type rankDelta struct {
	source string
	n      [rankTypes]int64
}

// rankTypes bounds the types bucket rankedN counts apart: the ioc types
// (1 to 7); a type out of that range is counted with type 0.
const rankTypes = 8

func rankType(t ioc.Type) int {
	if int(t) >= rankTypes {
		return 0
	}
	return int(t)
}

// countRank adds d to the count of source's ranked keys of type typ. An
// Update writes few sources, so a short list, newest first, not a map.
func (t *tx) countRank(source string, typ ioc.Type, d int64) {
	i := len(t.rankN) - 1
	for i >= 0 && t.rankN[i].source != source {
		i--
	}
	if i < 0 {
		t.rankN = append(t.rankN, rankDelta{source: strings.Clone(source)})
		i = len(t.rankN) - 1
	}
	t.rankN[i].n[rankType(typ)] += d
}

// rankCountKey is the key of bucket rankedN for source's entries of type i.
func rankCountKey(dst []byte, source string, i int) []byte {
	return append(rankPrefix(dst, source), byte(i))
}

// flushCounts applies the changes to bucket rankedN.
func (t *tx) flushCounts() error {
	b := t.bucket(bRankedN)
	for _, d := range t.rankN {
		for i, n := range d.n {
			if n == 0 {
				continue
			}
			var kb [64]byte
			k := rankCountKey(kb[:0], d.source, i)
			c, err := rankCount(k, b.Get(k))
			if err != nil {
				return err
			}
			// below zero only if the counts drifted from the keys: they
			// size a report's over-capacity figure, not what is shared, so
			// a write is not refused for it
			if c = max(c+n, 0); c == 0 {
				err = b.Delete(k)
			} else {
				var vb [8]byte
				binary.BigEndian.PutUint64(vb[:], uint64(c))
				err = t.put(b, k, vb[:]) // kept for the transaction, as bbolt wants
			}
			if err != nil {
				return fmt.Errorf("boltstore: ranked count: %w", err)
			}
		}
	}
	t.rankN = t.rankN[:0]
	return nil
}

// rankCount reads a value of bucket rankedN (none: zero).
func rankCount(k, v []byte) (int64, error) {
	switch {
	case v == nil:
		return 0, nil
	case len(v) != 8 || int64(binary.BigEndian.Uint64(v)) < 0:
		return 0, fmt.Errorf("boltstore: ranked count %x: %w", k, errCorrupt)
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// RankedCount implements sharing.RankedTx from bucket rankedN, without
// reading the ranked keys.
func (t *tx) RankedCount(source string, accept func(ioc.Type) bool) (int, error) {
	if err := t.readable(); err != nil {
		return 0, err
	}
	if err := t.flushRank(); err != nil {
		return 0, err
	}
	b := t.bucket(bRankedN)
	var k []byte
	n := int64(0)
	for i := range rankTypes {
		if !accept(ioc.Type(i)) {
			continue
		}
		k = rankCountKey(k[:0], source, i)
		c, err := rankCount(k, b.Get(k))
		if err != nil {
			return 0, err
		}
		n += c
	}
	return int(n), nil
}

// countRanked fills an empty bucket rankedN from bucket ranked: once, when
// a file written before the counts (schema version 4) is opened.
func countRanked(tx *bolt.Tx) error {
	counts := map[string]int64{}
	c := tx.Bucket(bRanked).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		n, w := binary.Uvarint(k)
		if w <= 0 || uint64(len(k)-w) < n+9 || len(v) != 1 {
			return fmt.Errorf("boltstore: ranked key %x: %w", k, errCorrupt)
		}
		counts[string(rankCountKey(nil, string(k[w:w+int(n)]), rankType(ioc.Type(v[0]))))]++
	}
	b := tx.Bucket(bRankedN)
	for k, n := range counts {
		if err := b.Put([]byte(k), binary.BigEndian.AppendUint64(nil, uint64(n))); err != nil {
			return err
		}
	}
	return nil
}

// rankOp is a change to a ranked key waiting in tx.rops: put (with the
// entry's type) or delete. Its key is rkeys[off : off+n], and its first 24
// bytes, big-endian and zero-padded, are in head: the keys of a page share
// their source and often their severity and LastSeen, about 18 bytes, which
// comparing whole keys walked each time; the heads decide most comparisons
// in three integer compares.
type rankOp struct {
	head   [3]uint64
	off, n uint32
	put    bool
	typ    byte
}

func (t *tx) addRankOp(key []byte, put bool, typ byte) {
	op := rankOp{off: uint32(len(t.rkeys)), n: uint32(len(key)), put: put, typ: typ}
	for i := range op.head {
		if 8*i < len(key) {
			op.head[i] = storeutil.Prefix8(key[8*i:])
		}
	}
	t.rops = append(t.rops, op)
	t.rkeys = append(t.rkeys, key...)
}

// compareRankOps orders ranked key changes by key, then in the order made
// (offsets grow).
func (t *tx) compareRankOps(a, b *rankOp) int {
	for i := range a.head {
		if a.head[i] != b.head[i] {
			return cmp.Compare(a.head[i], b.head[i])
		}
	}
	if a.n > 24 || b.n > 24 { // equal heads: the bytes after them decide
		if c := bytes.Compare(t.rankOpKey(a)[min(a.n, 24):], t.rankOpKey(b)[min(b.n, 24):]); c != 0 {
			return c
		}
	} else if a.n != b.n { // one is the other padded with zeros
		return cmp.Compare(a.n, b.n)
	}
	return cmp.Compare(a.off, b.off)
}

func (t *tx) rankOpKey(op *rankOp) []byte { return t.rkeys[op.off : op.off+op.n] }

// sortRankOps puts the indexes of the waiting changes in key order into
// t.rorder.
func (t *tx) sortRankOps() {
	t.rorder = t.rorder[:0]
	for i := range t.rops {
		t.rorder = append(t.rorder, int32(i))
	}
	slices.SortFunc(t.rorder, func(a, b int32) int { return t.compareRankOps(&t.rops[a], &t.rops[b]) })
}

// flushRank applies the waiting ranked key changes in key order: a page's
// values come in value order, which is not the index's, and bbolt shifts a
// node's sorted slice at every put out of order. The last change of a key
// wins (a value twice in one Merge): equal keys stay in the order made. A
// slice and one sort, not a map: a map of a page's keys cost more than the
// puts. The sort moves the changes' indexes and compares their heads:
// 10,000 changes of one page sort in 1.3 to 1.4 ms on the 2-core machine of
// the README, where sorting the changes by their whole keys took 1.9 to
// 2.1 ms, and sorting the 40-byte changes with their heads about 2.2.
func (t *tx) flushRank() error {
	if len(t.rops) == 0 {
		return t.flushCounts()
	}
	t.sortRankOps()
	b := t.bucket(bRanked)
	// A page's new keys come together at the front of their severities
	// (newest first), before leaves that are then rarely written again:
	// full leaves, a quarter fewer pages to write and to read.
	b.FillPercent = 1
	for i, j := range t.rorder {
		op := &t.rops[j]
		k := t.rankOpKey(op)
		if i+1 < len(t.rorder) && bytes.Equal(k, t.rankOpKey(&t.rops[t.rorder[i+1]])) {
			continue // a later change of the same key wins
		}
		var err error
		if op.put {
			err = t.put(b, k, []byte{op.typ})
		} else {
			err = b.Delete(k)
		}
		if err != nil {
			return fmt.Errorf("boltstore: ranked index: %w", err)
		}
	}
	t.rops, t.rkeys = t.rops[:0], t.rkeys[:0]
	return t.flushCounts()
}

// Ranked implements sharing.RankedTx from bucket ranked. It checks the
// transaction's context every 1,024 keys.
func (t *tx) Ranked(source string, fn func(value string, typ ioc.Type) error) error {
	if err := t.readable(); err != nil {
		return err
	}
	if err := t.flushRank(); err != nil {
		return err
	}
	prefix := rankPrefix(nil, source)
	c := t.bucket(bRanked).Cursor()
	n := 0
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if n++; n&1023 == 0 {
			if err := t.ctx.Err(); err != nil {
				return fmt.Errorf("boltstore: ranked: %w", err)
			}
		}
		if len(k) < len(prefix)+9 || len(v) != 1 {
			return fmt.Errorf("boltstore: ranked key %x of %q: %w", k, storeutil.Trunc(source), errCorrupt)
		}
		if err := fn(string(k[len(prefix)+9:]), ioc.Type(v[0])); err != nil {
			return storeutil.EndScan(err)
		}
	}
	return nil
}

// RankedBefore implements sharing.RankedTx: in each severity of the source,
// the keys of entries seen before t are the group's tail (newest first), so
// it seeks there and reads the tail; the key just before it is the group's
// oldest entry seen at or after t.
func (t *tx) RankedBefore(source string, before time.Time, fn func(value string, typ ioc.Type) error) (time.Time, error) {
	if err := t.readable(); err != nil {
		return time.Time{}, err
	}
	if err := t.flushRank(); err != nil {
		return time.Time{}, err
	}
	prefix := rankPrefix(nil, source)
	at := before.UnixNano()
	var next int64
	hasNext := false
	c := t.bucket(bRanked).Cursor()
	seek := slices.Clone(prefix)
	n := 0
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); {
		if len(k) < len(prefix)+9 {
			return time.Time{}, fmt.Errorf("boltstore: ranked key %x of %q: %w", k, storeutil.Trunc(source), errCorrupt)
		}
		group := k[:len(prefix)+1] // the source and a severity
		seek = binary.BigEndian.AppendUint64(append(seek[:0], group...), rankSeen(at))
		c.Seek(seek)
		if pk, _ := c.Prev(); pk != nil && bytes.HasPrefix(pk, group) && len(pk) >= len(prefix)+9 {
			if ns := seenOf(pk[len(prefix)+1:]); !hasNext || ns < next {
				next, hasNext = ns, true
			}
		}
		var v []byte
		for k, v = c.Seek(seek); k != nil && bytes.HasPrefix(k, group); k, v = c.Next() {
			if n++; n&1023 == 0 {
				if err := t.ctx.Err(); err != nil {
					return time.Time{}, fmt.Errorf("boltstore: ranked: %w", err)
				}
			}
			if len(k) < len(prefix)+9 || len(v) != 1 {
				return time.Time{}, fmt.Errorf("boltstore: ranked key %x of %q: %w", k, storeutil.Trunc(source), errCorrupt)
			}
			if ns := seenOf(k[len(prefix)+1:]); ns >= at { // seen at t exactly: not before
				if !hasNext || ns < next {
					next, hasNext = ns, true
				}
				continue
			}
			if err := fn(string(k[len(prefix)+9:]), ioc.Type(v[0])); err != nil {
				return time.Time{}, storeutil.EndScan(err)
			}
		}
	}
	if !hasNext {
		return time.Time{}, nil
	}
	return time.Unix(0, next).UTC(), nil
}

// rankSeen is a LastSeen's Unix nanoseconds as ranked keys hold them:
// made unsigned and inverted, so that the newest sorts first.
func rankSeen(ns int64) uint64 { return ^(uint64(ns) ^ 1<<63) }

// seenOf reads back the Unix nanoseconds rankSeen wrote at the start of b.
func seenOf(b []byte) int64 { return int64(^binary.BigEndian.Uint64(b) ^ 1<<63) }

// buildRanked fills an empty ranked bucket from the records: once, when a
// file written before the index (schema version 2) is opened. The staging
// log is folded first, so the records bucket holds every record.
func (t *tx) buildRanked() error {
	if err := t.fold(); err != nil {
		return err
	}
	// the index and its counts are made here, in one transaction with
	// every key: setup leaves a missing index missing, so that an Open
	// whose build failed builds it again
	if _, err := t.btx.CreateBucket(bRanked); err != nil {
		return err
	}
	if err := t.btx.DeleteBucket(bRankedN); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
		return err
	}
	if _, err := t.btx.CreateBucket(bRankedN); err != nil {
		return err
	}
	var r sharing.Record
	var tags []string
	c := t.bucket(bRecords).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if err := decodeRecord(string(k), v, &r, &tags, t.str); err != nil {
			return fmt.Errorf("boltstore: record %q: %w", storeutil.Trunc(string(k)), err)
		}
		for i := range r.Entries {
			if err := t.rank(r.Value, nil, &r.Entries[i]); err != nil {
				return err
			}
		}
		if len(t.rops) >= 1<<16 {
			if err := t.flushRank(); err != nil {
				return err
			}
		}
	}
	return t.flushRank()
}

// rankedMissing reports whether the file has no ranked bucket yet.
func rankedMissing(btx *bolt.Tx) bool { return btx.Bucket(bRanked) == nil }
