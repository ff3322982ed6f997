package memstore

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTableAgainstMap adds and removes values at random, with a table small
// enough for long probe runs and growth, and checks it against a Go map.
func TestTableAgainstMap(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	tab := newTable()
	want := map[string]bool{}
	for step := range 20000 {
		v := fmt.Sprint("v", rng.IntN(3000))
		if rng.IntN(3) == 0 {
			tab.remove(v)
			delete(want, v)
		} else {
			tab.reserve(1)
			r, slot, h := tab.lookup(v)
			if r == nil {
				r = tab.add(slot, h)
				r.value = v
			}
			want[v] = true
		}
		if step%500 == 0 {
			require.Equal(t, len(want), tab.len())
			for i := range 3000 {
				v := fmt.Sprint("v", i)
				r := tab.get(v)
				require.Equal(t, want[v], r != nil, "step %d: %s", step, v)
				if r != nil {
					require.Equal(t, v, r.value)
				}
			}
		}
	}
	n := 0
	tab.each(func(r *rec) {
		require.True(t, want[r.value])
		n++
	})
	require.Equal(t, len(want), n)
}
