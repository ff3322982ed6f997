package boltstore

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"

	"github.com/ctexchange/cte/sharing/store/internal/storeutil"

	bolt "go.etcd.io/bbolt"
)

// blobTable finds the blobs of a staging log by sequence, as one
// transaction sees the log. A fold reads the newest versions in value
// order, which is at random in the log: a cursor's Seek for each searched
// the log's B-tree from its root (0.5 s of a first sync of 1M events, whose
// log holds 76,000 blobs), where the table is one pass over the log and a
// slice index for each. Its slices are the transaction's memory map: valid
// until it ends, and the log is not changed while a fold reads it.
type blobTable struct {
	seqs  []uint64 // in order; seqs[i] == seqs[0]+i when dense
	blobs [][]byte
	dense bool
}

// readBlobs reads the blobs of the log b into a table.
func readBlobs(b *bolt.Bucket) (*blobTable, error) {
	t := &blobTable{}
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) != 8 {
			return nil, fmt.Errorf("staged entry %x: %w: the key is not a sequence number", k, errCorrupt)
		}
		t.seqs = append(t.seqs, binary.BigEndian.Uint64(k))
		t.blobs = append(t.blobs, v)
	}
	n := len(t.seqs)
	t.dense = n == 0 || t.seqs[n-1]-t.seqs[0] == uint64(n-1)
	return t, nil
}

// blob returns the blob of sequence seq, nil when the log has none.
func (t *blobTable) blob(seq uint64) []byte {
	if len(t.seqs) == 0 || seq < t.seqs[0] {
		return nil
	}
	if t.dense {
		if i := seq - t.seqs[0]; i < uint64(len(t.blobs)) {
			return t.blobs[i]
		}
		return nil
	}
	i := sort.Search(len(t.seqs), func(i int) bool { return t.seqs[i] >= seq })
	if i < len(t.seqs) && t.seqs[i] == seq {
		return t.blobs[i]
	}
	return nil
}

// record returns the value and record encoding of the staged version ref.
func (t *blobTable) record(ref uint64) (value, rec []byte, err error) {
	blob := t.blob(refSeq(ref))
	if blob == nil {
		return nil, nil, fmt.Errorf("%w: staged blob %d is missing", errCorrupt, refSeq(ref))
	}
	value, rec, _, err = entryAt(blob, refOff(ref))
	return value, rec, err
}

// value returns the value of the entry ref names, nil when it cannot be
// read (for entries already read whole: newest).
func (t *blobTable) value(ref uint64) []byte {
	v, _, _ := t.record(ref)
	return v
}

// newest returns the ref of the newest entry of each value of the log, in
// value order: the log's entries sorted by value, then ref (a later version
// has a greater ref: a greater sequence, or a greater offset in the same
// blob), and the last of each value kept. The folds and a View's Records
// read the log so, rather than asking the index about each entry (a map
// lookup, a cache miss each: 0.48 s of the fold that ends a first sync of 1M
// events). An entry is sorted as its value's first 8 bytes and its ref, 16
// bytes, the values read again only where those bytes tie: sorting the
// values themselves (40 bytes with the slice) took 0.59 s of that fold. hint
// is room to make for the entries.
func (t *blobTable) newest(hint int) ([]uint64, error) {
	type entry struct {
		prefix uint64 // storeutil.Prefix8 of value
		ref    uint64
	}
	all := make([]entry, 0, hint)
	err := t.entries(func(ref uint64, value, _ []byte) error {
		all = append(all, entry{storeutil.Prefix8(value), ref})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(all, func(a, b entry) int {
		if a.prefix != b.prefix {
			return cmp.Compare(a.prefix, b.prefix)
		}
		if c := bytes.Compare(t.value(a.ref), t.value(b.ref)); c != 0 {
			return c
		}
		return cmp.Compare(a.ref, b.ref)
	})
	refs := make([]uint64, 0, len(all))
	for i, e := range all {
		if i+1 < len(all) && all[i+1].prefix == e.prefix && bytes.Equal(t.value(all[i+1].ref), t.value(e.ref)) {
			continue // an older version
		}
		refs = append(refs, e.ref)
	}
	return refs, nil
}

// headsSum is the index.sum of the values whose newest versions are refs,
// each hashed with hash.
func (t *blobTable) headsSum(refs []uint64, hash stageHash) uint64 {
	var sum uint64
	for _, ref := range refs {
		sum += headSum(hash.bytes(t.value(ref)), ref)
	}
	return sum
}

// errLogChanged is the error of a fold whose log does not hold the newest
// versions its index (and Update) name.
func errLogChanged(found, want int) error {
	return fmt.Errorf("%w: the log holds the newest versions of %d values, its index %d, or other versions than the index's: a staged blob is missing or changed", errCorrupt, found, want)
}

// entries calls fn with every entry of the log, in log order, and its ref.
func (t *blobTable) entries(fn func(ref uint64, value, rec []byte) error) error {
	var k [8]byte
	for i, blob := range t.blobs {
		binary.BigEndian.PutUint64(k[:], t.seqs[i])
		if err := blobEntries(k[:], blob, fn); err != nil {
			return err
		}
	}
	return nil
}

// viewBlobsAfter is how many staged versions a View reads by seeking their
// blobs before it reads the whole log into a table (blobTable): a share
// that packs a list from a log of hundreds of thousands of values (a first
// sync's) seeks a blob from the log's root for each, at random. A log of
// more than 1.6M versions raises it by one per 400 versions (about one per
// 16 blobs: a seek costs about what a table's cursor steps over 16 blobs
// cost), so that a View reading a few thousand values of a huge log does not
// read all of it.
const viewBlobsAfter = 1 << 12

// stagedBlob returns the blob of sequence seq, nil when the log has none.
func (t *tx) stagedBlob(seq uint64) ([]byte, error) {
	if t.blobs == nil && !t.write {
		if t.stagedReads++; t.stagedReads >= max(viewBlobsAfter, t.idx.count()/400) {
			var err error
			if t.blobs, err = readBlobs(t.bucket(bStaged)); err != nil {
				return nil, fmt.Errorf("boltstore: staging log: %w", err)
			}
		}
	}
	if t.blobs != nil {
		return t.blobs.blob(seq), nil
	}
	return t.get(&t.curStaged, bStaged, seqKey(t.seqBuf[:0], seq)), nil
}
