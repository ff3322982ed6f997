package boltstore

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// defaultFoldAt is how many record versions the staging log holds before an
// Update folds them into the records bucket. Folding rewrites the leaves the
// staged values land on, about once per leaf, so the larger the log the cheaper
// each value; its in-memory index costs about 130 bytes per staged value.
const defaultFoldAt = 512 << 10

// The staging log (bucket staged) keeps the record versions written since the
// last fold under increasing sequence numbers: a commit appends to the end of
// one bucket instead of rewriting a leaf of the records bucket per value. An
// entry is the value (uvarint length, bytes) followed by the record encoding.
// The newest staged version of a value wins over the records bucket.
//
// index maps each staged value to its staged versions, newest first, so that a
// View on an older snapshot finds the version it must see: the newest one whose
// sequence is at most its snapshot's staged sequence. Only Update changes it,
// one at a time, before its commit (new sequences are above every committed
// snapshot, so Views skip them until they commit) and takes the change back
// when the commit fails.
type index struct {
	base uint64 // the staged sequence just after the fold that started this index
	n    int    // staged versions, about (an Update's repeats of a value count once)

	mu     sync.RWMutex
	m      map[string]version
	sorted []string // cache: the values with a version at or below sortedAt, sorted
	at     uint64   // sortedAt + 1; 0 when the cache is empty
}

type version struct {
	seq  uint64
	prev *version
}

// push returns v with a newer version seq in front; the zero version is none.
func (v version) push(seq uint64) version {
	if v.seq == 0 {
		return version{seq: seq}
	}
	return version{seq: seq, prev: &v}
}

func newIndex(base uint64) *index {
	return &index{base: base, m: make(map[string]version)}
}

// lookup returns the sequence of value's newest version at or below max.
func (x *index) lookup(value string, max uint64) (uint64, bool) {
	x.mu.RLock()
	head, ok := x.m[value]
	x.mu.RUnlock()
	if !ok {
		return 0, false
	}
	for v := &head; v != nil; v = v.prev {
		if v.seq <= max {
			return v.seq, true
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
			if v.seq <= max {
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
	for k, seq := range pending {
		x.m[k] = x.m[k].push(seq)
	}
	x.n += len(pending)
}

// unpublish takes back what publish added after the commit failed.
func (x *index) unpublish(pending map[string]uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for k, seq := range pending {
		v, ok := x.m[k]
		if !ok || v.seq != seq {
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

// head returns the newest staged sequence of value, for the Update (which sees
// every committed version).
func (x *index) head(value string) (uint64, bool) {
	v, ok := x.m[value]
	return v.seq, ok
}

func seqKey(dst []byte, seq uint64) []byte { return binary.BigEndian.AppendUint64(dst, seq) }

func appendStaged(dst []byte, value string, rec []byte) []byte {
	return append(appendStr(dst, value), rec...)
}

// splitStaged returns the value and the record encoding of a staged entry.
func splitStaged(e []byte) (value, rec []byte, err error) {
	r := reader{b: e}
	value = r.bytes()
	if r.err != nil {
		return nil, nil, fmt.Errorf("%w: staged entry", errCorrupt)
	}
	return value, r.b, nil
}

// buildIndex reads a staged bucket into a new index: on Open, and for a View
// whose snapshot is older than the last fold.
func buildIndex(b *bolt.Bucket, base uint64) (*index, error) {
	x := newIndex(base)
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) != 8 {
			return nil, fmt.Errorf("staged entry %x: %w: the key is not a sequence number", k, errCorrupt)
		}
		value, _, err := splitStaged(v)
		if err != nil {
			return nil, fmt.Errorf("staged entry %x: %w", k, err)
		}
		s := string(value)
		x.m[s] = x.m[s].push(binary.BigEndian.Uint64(k))
		x.n++
	}
	return x, nil
}
