package storeutil

import (
	"cmp"
	"encoding/binary"
	"slices"
	"strings"

	"github.com/ctexchange/cte/ioc"
)

// Prefix8 returns the first 8 bytes of s as a big-endian number, zero-padded:
// numbers order as the bytes do, and equal numbers leave the tie to the rest
// of the bytes. Comparing it first decides almost every comparison of two
// hashes without touching their bytes.
func Prefix8[S ~string | ~[]byte](s S) uint64 {
	var p [8]byte
	copy(p[:], s)
	return binary.BigEndian.Uint64(p[:])
}

// PageOrder sorts a page's indicators by value. A store handles a page in
// value order: its B-tree is walked left to right, each leaf found warm, and
// a value twice in a page merges in order. Values are compared by their
// Prefix8 first: under half the time of comparing the strings. A store keeps
// one PageOrder for the next page: its memory is reused.
type PageOrder struct {
	keys  []pageKey
	order []int32
}

type pageKey struct {
	prefix uint64
	at     int32
}

// Sort returns the positions of in sorted by value, equal values in page
// order. The result is valid until the next Sort.
func (p *PageOrder) Sort(in []ioc.Indicator) []int32 {
	keys := slices.Grow(p.keys[:0], len(in))
	for i := range in {
		keys = append(keys, pageKey{Prefix8(in[i].Value), int32(i)})
	}
	slices.SortFunc(keys, func(a, b pageKey) int {
		if c := cmp.Compare(a.prefix, b.prefix); c != 0 {
			return c
		}
		if c := strings.Compare(in[a.at].Value, in[b.at].Value); c != 0 {
			return c
		}
		return cmp.Compare(a.at, b.at)
	})
	p.keys = keys
	p.order = slices.Grow(p.order[:0], len(in))
	for _, k := range keys {
		p.order = append(p.order, k.at)
	}
	return p.order
}
