package boltstore

import (
	"bytes"
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRankOpsSortAsTheirKeys sorts ranked key changes by their 24-byte
// heads (compareRankOps) and checks the order against the keys' own:
// keys sharing long prefixes, shorter and longer than the heads, with
// zero bytes where the heads pad, and repeated (kept in the order made).
func TestRankOpsSortAsTheirKeys(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte{0, 0, 1, 'a', 'b', 0xff}
	for round := range 200 {
		var tx tx
		var keys [][]byte
		for range 50 {
			var k []byte
			if len(keys) > 0 && r.IntN(4) == 0 {
				k = slices.Clone(keys[r.IntN(len(keys))]) // a repeat
			} else {
				k = bytes.Repeat([]byte{'s'}, r.IntN(20)) // a shared prefix
				for range r.IntN(16) {
					k = append(k, alphabet[r.IntN(len(alphabet))])
				}
			}
			if len(k) == 0 {
				k = []byte{0}
			}
			keys = append(keys, k)
			tx.addRankOp(k, true, 0)
		}
		slices.SortFunc(tx.rops, tx.compareRankOps)
		type made struct {
			key []byte
			at  int
		}
		want := make([]made, len(keys))
		for i, k := range keys {
			want[i] = made{k, i}
		}
		slices.SortStableFunc(want, func(a, b made) int { return bytes.Compare(a.key, b.key) })
		for i, op := range tx.rops {
			require.Equal(t, want[i].key, tx.rankOpKey(op), "round %d, key %d", round, i)
			if i > 0 && bytes.Equal(tx.rankOpKey(op), tx.rankOpKey(tx.rops[i-1])) {
				require.Equal(t, -1, cmp.Compare(tx.rops[i-1].off, op.off), "repeats in the order made")
			}
		}
	}
}
