package boltstore

import (
	"hash/maphash"
	"math/bits"

	bolt "go.etcd.io/bbolt"
)

// keyFilter is a Bloom filter over the keys of the records bucket: an Update
// merging a value the filter has never seen skips looking it up in the tree,
// which is most of the cost of a page of new values. Only Updates use it, one
// at a time. It may hold keys a rolled back fold added: that only costs a
// lookup.
type keyFilter struct {
	seed  maphash.Seed
	bits  []uint64
	mask  uint64 // len(bits)*64 - 1
	n     int    // keys added, about
	limit int    // n at which the filter is rebuilt larger
}

const filterBitsPerKey = 16 // with 4 probes: about 0.24 % false positives

func newKeyFilter(keys int) *keyFilter {
	size := uint64(1) << bits.Len64(uint64(max(keys*2, 1<<16)*filterBitsPerKey-1))
	return &keyFilter{seed: maphash.MakeSeed(), bits: make([]uint64, size/64), mask: size - 1, limit: int(size / filterBitsPerKey)}
}

func (f *keyFilter) probes(key []byte) (h1, h2 uint64) {
	h := maphash.Bytes(f.seed, key)
	return h, h>>32 | h<<32 | 1
}

func (f *keyFilter) add(key []byte) {
	f.set(f.probes(key))
}

func (f *keyFilter) set(h1, h2 uint64) {
	for i := range uint64(4) {
		b := (h1 + i*h2) & f.mask
		f.bits[b>>6] |= 1 << (b & 63)
	}
	f.n++
}

func (f *keyFilter) has(h1, h2 uint64) bool {
	for i := range uint64(4) {
		b := (h1 + i*h2) & f.mask
		if f.bits[b>>6]&(1<<(b&63)) == 0 {
			return false
		}
	}
	return true
}

func (f *keyFilter) mayHave(key []byte) bool {
	return f.has(f.probes(key))
}

// buildFilter reads the keys of the records bucket into a new filter.
func buildFilter(b *bolt.Bucket) *keyFilter {
	n := 0 // Stats does not count a writer's changes
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	f := newKeyFilter(n)
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		f.add(k)
	}
	return f
}

func (f *keyFilter) full() bool { return f.n >= f.limit }

// addHash and mayHaveHash are add and mayHave for a key already hashed
// (the staging index's hash, of a value the index's seed hashed).
func (f *keyFilter) addHash(h uint64) { f.set(h, h>>32|h<<32|1) }

func (f *keyFilter) mayHaveHash(h uint64) bool { return f.has(h, h>>32|h<<32|1) }
