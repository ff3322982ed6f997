package boltstore

// This file folds a staging log too large for one transaction, and too
// small to write the records anew, into the records bucket in place.

import (
	"context"
	"fmt"

	"github.com/ctexchange/cte/sharing/store/internal/storeutil"
	bolt "go.etcd.io/bbolt"
)

// foldChunk is how many values a transaction of foldAfter puts, and so the
// largest fold made inside an Update. A value folded in place lands on a
// leaf of its own at random, and bbolt holds every leaf a transaction
// dirties, and a page buffer for each, until its commit: folded in one
// transaction, 148,000 values into the 1.9M records of a 1M-event store
// held about 800 MB of heap, and the commit writes a page at a time.
const foldChunk = 1 << 13

// foldAfter folds the staging log into the records bucket in place, after
// the Update that decided it (foldOrRebuild) has committed: the newest
// staged version of each value, in value order, foldN values a transaction,
// then the log emptied in one last transaction (as *tp, for recoverDamage).
// Until that one commits the log stays whole: a value already folded is in
// both, the same version, and a read takes the staged one, so Views read
// what they read before, and a crash (or a failure) in between leaves
// nothing to undo: the next fold puts those values again. The caller holds
// wmu, and its Update has committed.
func (s *Store) foldAfter(tp **tx, heads []uint64) error {
	for part := 0; len(heads) > 0; part++ {
		chunk := heads[:min(s.foldN, len(heads))]
		heads = heads[len(chunk):]
		if err := s.db.Update(func(btx *bolt.Tx) error {
			if s.foldHook != nil {
				if err := s.foldHook(part); err != nil {
					return err
				}
			}
			return s.foldPart(btx, chunk)
		}); err != nil {
			return fmt.Errorf("fold: %w", err)
		}
	}
	if err := s.update(context.Background(), tp, (*tx).emptyStaged); err != nil {
		return fmt.Errorf("fold: %w", err)
	}
	s.foldsAfter++
	return s.refreshFilter()
}

// foldPart puts the staged versions of heads, in value order, into the
// records bucket, and the values new to it into the key filter (one the
// filter may have already is left out, so that the filter's count stays
// about the records'). The records are not copied: the staged blobs do not
// change until the log is emptied, and bbolt copies what its nodes hold
// before it maps the file anew.
func (s *Store) foldPart(btx *bolt.Tx, heads []uint64) error {
	rb := btx.Bucket(bRecords)
	bt, err := readBlobs(btx.Bucket(bStaged))
	if err != nil {
		return err
	}
	return putVersions(rb, bt, heads, func(value, rec []byte) error {
		if err := rb.Put(value, rec); err != nil {
			return err
		}
		if f := s.filter; f != nil && !f.mayHave(value) {
			f.add(value)
		}
		return nil
	}, nil)
}

// putVersions puts the staged versions refs name, in value order, into the
// records bucket rb: a record with put, a tombstone with rb.Delete, after
// which deleted (when not nil) runs.
func putVersions(rb *bolt.Bucket, bt *blobTable, refs []uint64, put func(value, rec []byte) error, deleted func()) error {
	for i, ref := range refs {
		value, rec, err := bt.record(ref)
		if err != nil {
			return err
		}
		if i == 0 {
			fillFor(rb, value)
		}
		if len(rec) == 0 { // a tombstone
			err = rb.Delete(value)
			if deleted != nil {
				deleted()
			}
		} else {
			err = put(value, rec)
		}
		if err != nil {
			return fmt.Errorf("%q: %w", storeutil.Trunc(string(value)), err)
		}
	}
	return nil
}

// foldAll is the fold made inside an Update (tx.fold): the newest version
// of every value of the log, this Update's included, put into the records
// bucket in value order, and the log emptied. The versions found are checked
// as stagedHeads checks them, against the index with this Update's versions
// in it (wantHeads).
func (t *tx) foldAll() error {
	bt, err := readBlobs(t.bucket(bStaged))
	if err != nil {
		return err
	}
	refs, err := bt.newest(t.staged())
	if err != nil {
		return err
	}
	n, sum, ok := t.wantHeads(bt)
	if !ok || len(refs) != n || bt.headsSum(refs, t.idx.hash) != sum {
		return errLogChanged(len(refs), n)
	}
	rb := t.bucket(bRecords)
	put := func(value, rec []byte) error { return t.putKey(rb, value, rec) }
	if err := putVersions(rb, bt, refs, put, func() { t.curRecords = keyCursor{} }); err != nil {
		return err
	}
	return t.emptyStaged()
}

// wantHeads returns the count and index.sum of the values the log holds
// versions of, with this Update's versions (pending) added to the index's as
// publish would add them; ok is false when a version the index names cannot
// be read from the log bt.
func (t *tx) wantHeads(bt *blobTable) (n int, sum uint64, ok bool) {
	x := t.idx
	n, sum = x.distinct(), x.sum
	for value, ref := range t.pending {
		h := x.hash.str(value)
		head, _ := x.find(value)
		if head != 0 && x.heads[h] != sharedRef { // of value, or of another value of its hash
			v, _, err := bt.record(head)
			if err != nil {
				return 0, 0, false
			}
			if string(v) != value {
				head = 0
			}
		}
		if head != 0 {
			sum -= headSum(h, head)
		} else {
			n++
		}
		sum += headSum(h, ref)
	}
	return n, sum, true
}
