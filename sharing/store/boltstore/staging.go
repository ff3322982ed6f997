package boltstore

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync"

	"github.com/ctexchange/cte/sharing/store/internal/storeutil"
	bolt "go.etcd.io/bbolt"
)

// defaultFoldAt is how many record versions the staging log holds before an
// Update folds them into the records bucket. Folding rewrites the leaves the
// staged values land on, about once per leaf, so the larger the log the cheaper
// each value; its in-memory index costs about 130 bytes per staged value.
const defaultFoldAt = 512 << 10

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
// index maps each staged value to its staged versions, newest first, so that a
// View on an older snapshot finds the version it must see: the newest one whose
// blob's sequence is at most its snapshot's staged sequence. Only Update
// changes it, one at a time, before its commit (new sequences are above every
// committed snapshot, so Views skip them until they commit) and takes the
// change back when the commit fails.
type index struct {
	base uint64 // the staged sequence just after the fold that started this index
	n    int    // staged versions, about (an Update's repeats of a value count once)

	mu sync.RWMutex
	m  map[string]version
	// seen is a Bloom filter of m's keys, for the Update's lookups (head):
	// most values a page merges are not staged, and a miss in a map of
	// hundreds of thousands of keys is a cache miss. nil once too full.
	seen   *keyFilter
	sorted []string // cache: the values with a version at or below sortedAt, sorted
	at     uint64   // sortedAt + 1; 0 when the cache is empty
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

type version struct {
	ref  uint64
	prev *version
}

// push returns v with a newer version ref in front; the zero version is none.
func (v version) push(ref uint64) version {
	if v.ref == 0 {
		return version{ref: ref}
	}
	return version{ref: ref, prev: &v}
}

// newIndex returns an empty index with room for hint values: growing a map
// of hundreds of thousands of keys rehashes them again and again.
func newIndex(base uint64, hint int) *index {
	return &index{base: base, m: make(map[string]version, hint), seen: newKeyFilter(defaultFoldAt)}
}

// note adds a staged value to the filter; the caller holds mu (or owns x).
func (x *index) note(value string) {
	if x.seen == nil {
		return
	}
	x.seen.addString(value)
	if x.seen.full() {
		x.seen = nil
	}
}

// lookup returns the ref of value's newest version in a blob at or below max.
func (x *index) lookup(value string, max uint64) (uint64, bool) {
	x.mu.RLock()
	head, ok := x.m[value]
	x.mu.RUnlock()
	if !ok {
		return 0, false
	}
	for v := &head; v != nil; v = v.prev {
		if refSeq(v.ref) <= max {
			return v.ref, true
		}
	}
	return 0, false
}

// values returns the staged values with a version at or below max, sorted.
// The result is shared: do not change it.
func (x *index) values(max uint64) []string {
	x.mu.RLock()
	if x.at == max+1 {
		s := x.sorted
		x.mu.RUnlock()
		return s
	}
	out := make([]string, 0, len(x.m))
	for k, head := range x.m {
		for v := &head; v != nil; v = v.prev {
			if refSeq(v.ref) <= max {
				out = append(out, k)
				break
			}
		}
	}
	x.mu.RUnlock()
	slices.Sort(out)
	x.mu.Lock()
	x.sorted, x.at = out, max+1
	x.mu.Unlock()
	return out
}

// publish adds versions written by the Update about to commit.
func (x *index) publish(pending map[string]uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for k, ref := range pending {
		x.m[k] = x.m[k].push(ref)
		x.note(k)
	}
	x.n += len(pending)
}

// unpublish takes back what publish added after the commit failed.
func (x *index) unpublish(pending map[string]uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for k, ref := range pending {
		v, ok := x.m[k]
		if !ok || v.ref != ref {
			continue
		}
		x.n--
		if v.prev == nil {
			delete(x.m, k)
		} else {
			x.m[k] = *v.prev
		}
	}
	x.sorted, x.at = nil, 0
}

// head returns the ref of value's newest staged version, for the Update
// (which sees every committed version).
func (x *index) head(value string) (uint64, bool) {
	if x.seen != nil && !x.seen.mayHaveString(value) {
		return 0, false
	}
	v, ok := x.m[value]
	return v.ref, ok
}

func seqKey(dst []byte, seq uint64) []byte { return binary.BigEndian.AppendUint64(dst, seq) }

// appendStagedEntry appends a blob entry: the value and its record encoding.
func appendStagedEntry(dst []byte, value string, rec []byte) []byte {
	dst = appendStr(dst, value)
	dst = binary.AppendUvarint(dst, uint64(len(rec)))
	return append(dst, rec...)
}

// stagedEntry returns the record encoding of the staged version ref of
// value, from its blob.
func stagedEntry(blob []byte, ref uint64, value string) ([]byte, error) {
	v, rec, _, err := entryAt(blob, refOff(ref))
	if err == nil && string(v) != value {
		err = fmt.Errorf("%w: staged entry %d:%d holds another value", errCorrupt, refSeq(ref), refOff(ref))
	}
	if err != nil {
		return nil, fmt.Errorf("record %q: %w", storeutil.Trunc(value), err)
	}
	return rec, nil
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
func buildIndex(b *bolt.Bucket, base uint64) (*index, error) {
	x := newIndex(base, 0)
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		err := blobEntries(k, v, func(ref uint64, value, _ []byte) error {
			s := string(value)
			x.m[s] = x.m[s].push(ref)
			x.note(s)
			x.n++
			return nil
		})
		if err != nil {
			return nil, err
		}
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
