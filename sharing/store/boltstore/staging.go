package boltstore

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// defaultFoldAt is how many record versions the staging log holds before an
// Update folds them into the records bucket. Folding rewrites the leaves the
// staged values land on, about once per leaf, so the larger the log the
// cheaper each value; its in-memory index costs about 30 bytes per staged
// value (36 for 1.9M, about 145 MiB at 4M), and a fold 16 more a version
// while it sorts them, then 8 a value (stagedHeads). A
// first sync of 1M events (1.9M values) is folded once, at Close, into an
// empty records bucket: at 524,288 versions, the records were written anew
// at 0.5M, 1M and 1.5M values and at Close, 4.9M puts for 1.9M records, and
// the sync took 14.4 s of CPU where it now takes 11.8. A store whose records
// outnumber its log folds at an eighth of this (foldWhenFull), as before.
const defaultFoldAt = 4 << 20

// seenKeys is how many staged values the index's Bloom filter is made for.
// Past about twice that many versions (a first sync of millions of values)
// the filter is dropped and a Merge's lookups go to the index's map. It also
// bounds the room a new index makes at first.
const seenKeys = 512 << 10

// The staging log (bucket staged) keeps the record versions written since the
// last fold: an Update's versions go into values of up to maxBlob bytes
// (blobs) under increasing sequence numbers, so a commit appends a few values
// to the end of one bucket instead of one per version (or rewriting a leaf of
// the records bucket per value). A blob is a
// run of entries: the value and the record encoding, each uvarint length then
// bytes. A version is named by a ref: its blob's sequence and its offset in
// the blob (refs of later versions are higher). The newest staged version of a
// value wins over the records bucket.
//
// index finds each staged value's staged versions (kept oldest first, and
// searched newest first), so that a View on an older snapshot finds the
// version it must see: the newest one whose blob's sequence is at most its
// snapshot's staged sequence. Only Update changes it, one at a time, before
// its commit (new sequences are above every committed snapshot, so Views
// skip them until they commit) and takes the change back when the commit
// fails.
//
// It is keyed by a 64-bit hash of the value (stageHash), not by the value:
// its maps hold no string and no pointer per value, so a log of hundreds of
// thousands of values costs about 30 bytes each, and the collector never
// scans them. A hash names a candidate: the reader checks the value in the
// blob entry the ref names (stagedVersion), and a value whose hash another
// staged value shares is kept by value (shared).
type index struct {
	base uint64 // the staged sequence just after the fold that started this index
	n    int    // staged versions, about (an Update's repeats of a value count once)
	hash stageHash

	mu sync.RWMutex
	// heads maps a staged value's hash to the ref of its newest version,
	// or to sharedRef when values of that hash are in shared.
	heads map[uint64]uint64
	// older holds by hash the older versions of a value staged more than
	// once since the fold, oldest first (a version is appended).
	older map[uint64][]uint64
	// shared holds by value the versions, oldest first, of values whose hash
	// another staged value has too (rare: about n²/2⁶⁵).
	shared map[string][]uint64
	// sum is the sum of headSum over the staged values and their newest
	// versions: a fold finds the newest versions by sorting the log, not by
	// asking the map for each entry (a cache miss each, 0.48 s of a first
	// sync of 1M events), and checks what it found against this and the
	// count (a lost or changed blob changes either).
	sum uint64
	// seen is a Bloom filter of the staged values, for the Update's lookups
	// (head): most values a page merges are not staged, and a miss in a map
	// of hundreds of thousands of keys is a cache miss. nil once too full.
	seen *keyFilter
}

// sharedRef in heads says that the values of that hash are in shared. No
// ref is this high: a blob sequence is below 2⁴⁰.
const sharedRef = ^uint64(0)

// stageHash hashes staged values for the index: maphash with the store's
// random seed (values come from feeds: a seed nobody knows keeps anyone from
// making them share hashes), or a function of the tests that makes them.
type stageHash struct {
	seed maphash.Seed
	fn   func(string) uint64
}

func (h stageHash) str(s string) uint64 {
	if h.fn != nil {
		return h.fn(s)
	}
	return maphash.String(h.seed, s)
}

func (h stageHash) bytes(b []byte) uint64 {
	if h.fn != nil {
		return h.fn(string(b))
	}
	return maphash.Bytes(h.seed, b)
}

// maxBlob is the size past which an Update starts a new blob: about four to
// a 16 KiB page, one to a 4 KiB page of an older file (bbolt rewrites the
// whole leaf a put lands in, and the next Update's first put lands in the
// leaf of this one's last blobs), so an Update of 5,000 records makes about
// 190 puts instead of 5,000; a larger entry gets a blob of its own. Blobs
// of a whole 16 KiB page were no faster (a first sync of 200,000 events:
// 3.89 against 3.83 s).
const maxBlob = 3800

// makeRef names the version at offset off of blob seq.
func makeRef(seq uint64, off int) uint64 { return seq<<24 | uint64(off) }

// refSeq and refOff split a ref.
func refSeq(ref uint64) uint64 { return ref >> 24 }
func refOff(ref uint64) int    { return int(ref & (1<<24 - 1)) }

// newIndex returns an empty index with room for hint values: growing a map
// of hundreds of thousands of keys rehashes them again and again.
func newIndex(base uint64, hint int, hash stageHash) *index {
	return &index{base: base, hash: hash, heads: make(map[uint64]uint64, hint), older: map[uint64][]uint64{}, seen: newKeyFilter(seenKeys)}
}

// note adds a staged value to the filter; the caller holds mu (or owns x).
func (x *index) note(h uint64) {
	if x.seen == nil {
		return
	}
	x.seen.addHash(h)
	if x.seen.full() {
		x.seen = nil
	}
}

// find returns the refs of value's staged versions, the newest (head) and
// the others oldest first, or those of another value with the same hash:
// the caller checks the value in the blob entry. The caller holds mu.
func (x *index) find(value string) (head uint64, older []uint64) {
	h := x.hash.str(value)
	head, ok := x.heads[h]
	switch {
	case !ok:
		return 0, nil
	case head == sharedRef:
		vs := x.shared[value]
		if len(vs) == 0 {
			return 0, nil
		}
		return vs[len(vs)-1], vs[:len(vs)-1]
	}
	return head, x.older[h]
}

// lookup returns the ref of value's newest version in a blob at or below
// max, or of another value's with the same hash (the caller checks).
func (x *index) lookup(value string, max uint64) (uint64, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	head, older := x.find(value)
	if head == 0 {
		return 0, false
	}
	if refSeq(head) <= max {
		return head, true
	}
	for i := len(older) - 1; i >= 0; i-- {
		if refSeq(older[i]) <= max {
			return older[i], true
		}
	}
	return 0, false
}

// head returns the ref of value's newest staged version, or of another
// value's with the same hash (the caller checks), for the Update (which
// sees every committed version).
func (x *index) head(value string) (uint64, bool) {
	h := x.hash.str(value)
	if x.seen != nil && !x.seen.mayHaveHash(h) {
		return 0, false
	}
	ref, ok := x.heads[h]
	if ok && ref == sharedRef {
		vs := x.shared[value]
		if len(vs) == 0 {
			return 0, false
		}
		ref = vs[len(vs)-1]
	}
	return ref, ok
}

// headSum is what a value of hash h whose newest version is ref adds to
// index.sum: the two mixed (SplitMix64's finalizer), so that another
// version or another value changes the sum.
func headSum(h, ref uint64) uint64 {
	z := h ^ (ref+1)*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// add makes ref value's newest version. valueAt returns the value of the
// entry a ref names, to tell a newer version of the same value from
// another value with the same hash. The caller holds mu (or owns x).
func add[V string | []byte](x *index, h uint64, value V, ref uint64, valueAt func(uint64) ([]byte, error)) error {
	cur, ok := x.heads[h]
	switch {
	case !ok:
		x.heads[h] = ref
	case cur == sharedRef:
		vs := x.shared[string(value)]
		if len(vs) > 0 {
			x.sum -= headSum(h, vs[len(vs)-1])
		}
		x.shared[string(value)] = append(vs, ref)
	default:
		other, err := valueAt(cur)
		if err != nil {
			return err
		}
		if string(other) == string(value) {
			x.sum -= headSum(h, cur)
			x.older[h] = append(x.older[h], cur)
			x.heads[h] = ref
			break
		}
		if x.shared == nil {
			x.shared = map[string][]uint64{}
		}
		x.shared[string(other)] = append(x.older[h], cur)
		x.shared[string(value)] = []uint64{ref}
		x.heads[h] = sharedRef
		delete(x.older, h)
	}
	x.sum += headSum(h, ref)
	x.note(h)
	return nil
}

// count returns n, under mu: a View reads it while an Update publishes.
func (x *index) count() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.n
}

// distinct returns how many values x holds versions of.
func (x *index) distinct() int {
	n := len(x.heads) + len(x.shared)
	if len(x.shared) > 0 {
		for _, ref := range x.heads {
			if ref == sharedRef {
				n--
			}
		}
	}
	return n
}

// publish adds versions written by the Update about to commit; valueAt
// reads the value of a staged entry (add).
func (x *index) publish(pending map[string]uint64, valueAt func(uint64) ([]byte, error)) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	for k, ref := range pending {
		if err := add(x, x.hash.str(k), k, ref, valueAt); err != nil {
			return err
		}
		x.n++
	}
	return nil
}

// unpublish takes back what publish added after the commit failed (all of
// it or part).
func (x *index) unpublish(pending map[string]uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for k, ref := range pending {
		h := x.hash.str(k)
		switch cur, ok := x.heads[h]; {
		case ok && cur == sharedRef:
			vs := x.shared[k]
			if len(vs) == 0 || vs[len(vs)-1] != ref {
				continue
			}
			x.sum -= headSum(h, ref)
			if len(vs) == 1 {
				delete(x.shared, k)
				x.dropSharedHead(h)
			} else {
				x.shared[k] = vs[:len(vs)-1]
				x.sum += headSum(h, vs[len(vs)-2])
			}
		case ok && cur == ref:
			x.sum -= headSum(h, ref)
			if o := x.older[h]; len(o) > 0 {
				x.heads[h] = o[len(o)-1]
				x.sum += headSum(h, o[len(o)-1])
				if len(o) == 1 {
					delete(x.older, h)
				} else {
					x.older[h] = o[:len(o)-1]
				}
			} else {
				delete(x.heads, h)
			}
		default:
			continue
		}
		x.n--
	}
}

// dropSharedHead deletes heads[h], which says the values of hash h are in
// shared, when none is any more: two values of one hash new in an Update
// whose commit failed, both taken back (distinct would count the hash as a
// value, and the next fold find the log corrupt). shared is small: values
// whose hash another staged value has.
func (x *index) dropSharedHead(h uint64) {
	for v := range x.shared {
		if x.hash.str(v) == h {
			return
		}
	}
	delete(x.heads, h)
}

func seqKey(dst []byte, seq uint64) []byte { return binary.BigEndian.AppendUint64(dst, seq) }

// appendStagedEntry appends a blob entry: the value and its record encoding.
func appendStagedEntry(dst []byte, value string, rec []byte) []byte {
	dst = appendStr(dst, value)
	dst = binary.AppendUvarint(dst, uint64(len(rec)))
	return append(dst, rec...)
}

// entryAt returns the value and record encoding of the entry at off in blob,
// and the offset of the next one.
func entryAt(blob []byte, off int) (value, rec []byte, next int, err error) {
	if off < 0 || off >= len(blob) {
		return nil, nil, 0, fmt.Errorf("%w: staged entry at offset %d of a %d-byte blob", errCorrupt, off, len(blob))
	}
	r := reader{b: blob[off:]}
	value = r.bytes()
	rec = r.bytes()
	if r.err != nil {
		return nil, nil, 0, fmt.Errorf("%w: staged entry at offset %d", errCorrupt, off)
	}
	return value, rec, len(blob) - len(r.b), nil
}

// blobEntries calls fn with each entry of the blob under key k, and its ref.
func blobEntries(k, blob []byte, fn func(ref uint64, value, rec []byte) error) error {
	if len(k) != 8 {
		return fmt.Errorf("staged entry %x: %w: the key is not a sequence number", k, errCorrupt)
	}
	if len(blob) == 0 {
		return fmt.Errorf("staged entry %x: %w: an empty blob", k, errCorrupt)
	}
	seq := binary.BigEndian.Uint64(k)
	for off := 0; off < len(blob); {
		if off >= 1<<24 {
			return fmt.Errorf("staged entry %x: %w: an entry past 16 MiB", k, errCorrupt)
		}
		value, rec, next, err := entryAt(blob, off)
		if err != nil {
			return fmt.Errorf("staged entry %x: %w", k, err)
		}
		if err := fn(makeRef(seq, off), value, rec); err != nil {
			return err
		}
		off = next
	}
	return nil
}

// buildIndex reads a staged bucket into a new index: on Open, and for a View
// whose snapshot is older than the last fold.
func buildIndex(b *bolt.Bucket, base uint64, hash stageHash) (*index, error) {
	x := newIndex(base, 0, hash)
	bt, err := readBlobs(b)
	if err != nil {
		return nil, err
	}
	valueAt := func(ref uint64) ([]byte, error) {
		v, _, err := bt.record(ref)
		return v, err
	}
	err = bt.entries(func(ref uint64, value, _ []byte) error {
		x.n++
		return add(x, hash.bytes(value), value, ref, valueAt)
	})
	if err != nil {
		return nil, err
	}
	return x, nil
}

// convertStaged rewrites the staging log of a file of schema version 2 or 3,
// one version per key (the value, uvarint length then bytes, then the record
// encoding), as blobs of one entry each under the same keys.
func convertStaged(b *bolt.Bucket) error {
	type kv struct{ k, v []byte }
	var all []kv
	c := b.Cursor()
	for k, e := c.First(); k != nil; k, e = c.Next() {
		r := reader{b: e}
		value := r.bytes()
		if r.err != nil || len(k) != 8 {
			return fmt.Errorf("staged entry %x: %w", k, errCorrupt)
		}
		all = append(all, kv{slices.Clone(k), appendStagedEntry(nil, string(value), r.b)})
	}
	for _, x := range all {
		if err := b.Put(x.k, x.v); err != nil {
			return err
		}
	}
	return nil
}
