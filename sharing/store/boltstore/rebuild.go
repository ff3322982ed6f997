package boltstore

// This file folds a large staging log by writing the records bucket anew.

import (
	"bytes"
	"context"
	"fmt"

	"github.com/ctexchange/cte/sharing/store/internal/storeutil"
	bolt "go.etcd.io/bbolt"
)

// bRebuild holds, between the transactions of a rebuild, the records bucket
// being written anew (bRecords inside it). It is not there otherwise: an Open
// deletes one a crash left.
var bRebuild = []byte("records.rebuild")

// rebuildDiv: a fold writes the records bucket anew when the log holds at
// least 1/rebuildDiv as many values as the bucket (about: the key filter's
// count; a process that has not built the filter, after filterAfter
// lookups, folds in place), as at the end of a first sync and in the middle
// of a sync of more than 4M values (foldOrRebuild). A leaf holds a dozen or
// two records, so a log that large lands on nearly every leaf: folded in
// place, that is every page of the bucket dirty in one transaction, held in
// memory until its commit (at the end of a first sync of 1M events, a fold
// of 314,000 values into 1.57M records held 474 MB of page buffers and 213
// MB of nodes), and each put at random costs several in key order. Written
// anew, it takes bounded transactions, and the bucket's leaves end up full
// and in key order in the file.
const rebuildDiv = 8

// rebuildChunk is how many records a transaction of a rebuild writes: bbolt
// splits a bucket's nodes only at the commit, so a bucket written whole in
// one transaction is one node of millions of entries, regrown at every
// append (2.6 s of a first sync of 1M events), and all of its pages are
// held in memory until the commit.
const rebuildChunk = 1 << 17

// foldOrRebuild folds the staging log now, or leaves it to after this
// Update's commit: to rebuildRecords the first fold of a store (into an
// empty records bucket: in one transaction, one node of every value) and a
// fold of at least 1/rebuildDiv as many values as the records hold; to
// foldAfter any other fold of more than foldN values. Both the folds a Merge
// starts and the one Close makes decide so.
func (t *tx) foldOrRebuild() error {
	k, _ := t.bucket(bRecords).Cursor().First()
	f := t.s.filter
	switch {
	case t.s.rebuild || k == nil || f != nil && t.staged()*rebuildDiv >= f.n:
		t.foldLater = (*Store).rebuildRecords
		return nil
	case t.staged() > t.s.foldN:
		t.foldLater = (*Store).foldAfter
		return nil
	}
	return t.fold()
}

// stagedHeads returns the refs of the newest staged version of every value
// of x, in value order, from its log b (blobTable.newest). Only the refs are
// kept: a writer reads each value again from its entry, so a fold of
// millions of values holds 8 bytes for each, not a copy of it. What is
// found is checked against the index's count and sum (index.sum): a blob
// lost or changed since the index was made changes either.
func stagedHeads(b *bolt.Bucket, x *index) ([]uint64, error) {
	bt, err := readBlobs(b)
	if err != nil {
		return nil, err
	}
	refs, err := bt.newest(max(x.n, x.distinct()))
	if err != nil {
		return nil, err
	}
	if n := x.distinct(); len(refs) != n || bt.headsSum(refs, x.hash) != x.sum {
		return nil, errLogChanged(len(refs), n)
	}
	return refs, nil
}

// loadHeads is stagedHeads of the store's log, once its Update has
// committed (the caller holds wmu: nothing changes the log meanwhile).
func (s *Store) loadHeads() ([]uint64, error) {
	var heads []uint64
	err := s.db.View(func(btx *bolt.Tx) error {
		var err error
		heads, err = stagedHeads(btx.Bucket(bStaged), s.idx.Load())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("staging log: %w", err)
	}
	return heads, nil
}

// rebuildRecords folds the staging log by writing the records bucket anew:
// its records and the newest staged versions merged in key order, put in
// order into a new bucket with full leaves, rebuildN records a transaction
// (under bRebuild), then moved in place of the old bucket and the log
// emptied in one last transaction (as *tp, for recoverDamage). Until that
// one commits, the records and the log are as they were, for Views and after
// a crash alike. The caller holds wmu, and its Update has committed.
func (s *Store) rebuildRecords(tp **tx, heads []uint64) error {
	if err := s.db.Update(func(btx *bolt.Tx) error {
		if btx.Bucket(bRebuild) != nil {
			if err := btx.DeleteBucket(bRebuild); err != nil {
				return err
			}
		}
		p, err := btx.CreateBucket(bRebuild)
		if err != nil {
			return err
		}
		_, err = p.CreateBucket(bRecords)
		return err
	}); err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	w := rebuildWriter{heads: heads, filter: s.filter}
	for !w.done {
		if err := s.db.Update(w.chunk(s.rebuildN)); err != nil {
			return fmt.Errorf("rebuild: %w", err)
		}
	}
	if err := s.update(context.Background(), tp, (*tx).swapRebuilt); err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	s.rebuilt++
	return s.refreshFilter()
}

// refreshFilter builds the key filter again, larger, once a fold made after
// its Update has filled it.
func (s *Store) refreshFilter() error {
	if f := s.filter; f == nil || !f.full() {
		return nil
	}
	return s.db.View(func(btx *bolt.Tx) error {
		s.filter = buildFilter(btx.Bucket(bRecords))
		return nil
	})
}

// rebuildWriter is the state of a rebuild between its transactions: the
// last key written, and the next staged version to merge.
type rebuildWriter struct {
	heads  []uint64 // refs, in value order
	next   int      // in heads
	after  []byte
	filter *keyFilter
	done   bool
}

// chunk returns a transaction that writes the next n records of the merge
// into the new bucket. The values put are not copied: the old bucket and the
// staged blobs are not changed until the last transaction, and bbolt copies
// what its nodes hold before it maps the file anew.
func (w *rebuildWriter) chunk(n int) func(*bolt.Tx) error {
	return func(btx *bolt.Tx) error {
		nb := btx.Bucket(bRebuild).Bucket(bRecords)
		nb.FillPercent = 1
		c := btx.Bucket(bRecords).Cursor()
		bt, err := readBlobs(btx.Bucket(bStaged))
		if err != nil {
			return err
		}
		var k, v []byte
		if w.after == nil {
			k, v = c.First()
		} else if k, v = c.Seek(w.after); k != nil && bytes.Equal(k, w.after) {
			k, v = c.Next()
		}
		next := w.next
		// the value and record of heads[next], read from its blob
		var hv, hrec []byte
		peek := func() error {
			if next == len(w.heads) {
				return nil
			}
			var err error
			hv, hrec, err = bt.record(w.heads[next])
			return err
		}
		if err := peek(); err != nil {
			return err
		}
		for range n {
			var key, val []byte
			switch {
			case next < len(w.heads) && (k == nil || bytes.Compare(hv, k) <= 0):
				if bytes.Equal(k, hv) {
					k, v = c.Next() // the staged version wins
				} else if w.filter != nil && len(hrec) > 0 {
					w.filter.add(hv)
				}
				key, val = hv, hrec // a tombstone (no record) is not written
				next++
				if err := peek(); err != nil {
					return err
				}
			case k != nil:
				key, val = k, v
				k, v = c.Next()
			default:
				w.done = true
			}
			if w.done {
				break
			}
			if len(val) > 0 {
				if err := nb.Put(key, val); err != nil {
					return fmt.Errorf("%q: %w", storeutil.Trunc(string(key)), err)
				}
			}
			w.after = append(w.after[:0], key...)
		}
		w.done = w.done || (k == nil && next == len(w.heads))
		w.next = next
		return nil
	}
}

// swapRebuilt ends a rebuild: the new bucket in place of the records
// bucket, and the staging log emptied, as fold does.
func (t *tx) swapRebuilt() error {
	if err := t.btx.DeleteBucket(bRecords); err != nil {
		return err
	}
	// The new bucket has no change in this transaction: MoveBucket moves it
	// as last committed.
	if err := t.btx.MoveBucket(bRecords, t.btx.Bucket(bRebuild), nil); err != nil {
		return err
	}
	if err := t.btx.DeleteBucket(bRebuild); err != nil {
		return err
	}
	return t.emptyStaged()
}
