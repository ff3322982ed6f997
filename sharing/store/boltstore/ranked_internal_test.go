package boltstore

import (
	"bytes"
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
		tx.sortRankOps()
		type made struct {
			key []byte
			at  int
		}
		want := make([]made, len(keys))
		for i, k := range keys {
			want[i] = made{k, i}
		}
		slices.SortStableFunc(want, func(a, b made) int { return bytes.Compare(a.key, b.key) })
		require.Len(t, tx.rorder, len(keys))
		for i, j := range tx.rorder {
			k := tx.rankOpKey(&tx.rops[j])
			require.Equal(t, want[i].key, k, "round %d, key %d", round, i)
			require.Equal(t, want[i].at, int(j), "round %d, key %d: repeats in the order made", round, i)
		}
	}
}
