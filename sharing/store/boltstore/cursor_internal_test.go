package boltstore

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// TestKeyCursorAgreesWithGet looks keys up through a keyCursor, stepping
// (as a View does) and seeking (as an Update does), in runs of increasing
// keys with gaps of every size, absent keys, repeats, keys before the first
// and after the last, and runs that go back: every answer is Bucket.Get's.
func TestKeyCursorAgreesWithGet(t *testing.T) {
	t.Parallel()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "c.db"), 0o600, nil)
	require.NoError(t, err)
	defer db.Close()
	var keys [][]byte
	for i := range 3000 {
		keys = append(keys, fmt.Appendf(nil, "k%06d", i*3)) // k000001 is absent
	}
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := b.Put(k, append([]byte("v"), k...)); err != nil {
				return err
			}
		}
		return nil
	}))
	rng := rand.New(rand.NewPCG(1, 2))
	var lookups [][]byte
	for range 40 {
		// a run of increasing keys, the gap between two drawn from 0 to 3*stepN*2
		at := rng.IntN(9100) - 50
		run := []int{}
		for range rng.IntN(200) + 1 {
			run = append(run, at)
			at += rng.IntN(6*stepN + 1)
		}
		if rng.IntN(4) == 0 {
			slices.Reverse(run)
		}
		for _, n := range run {
			if n < 0 {
				lookups = append(lookups, []byte("a")) // before the first
				continue
			}
			lookups = append(lookups, fmt.Appendf(nil, "k%06d", n))
		}
	}
	lookups = append(lookups, []byte("z"), []byte("k008997"), []byte("zz"), []byte("k000000"))
	for _, step := range []bool{true, false} {
		require.NoError(t, db.View(func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte("b"))
			c := keyCursor{c: b.Cursor()}
			found := 0
			for i, k := range lookups {
				got, want := c.get(k, step), b.Get(k)
				require.Equal(t, want, got, "lookup %d of %q (step %v)", i, k, step)
				if want != nil {
					found++
				}
			}
			require.Greater(t, found, 100, "the lookups find keys")
			require.Less(t, found, len(lookups)-100, "and miss some")
			return nil
		}))
	}
}
