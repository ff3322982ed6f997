package boltstore_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/boltstore"
	"github.com/ctexchange/cte/sharing/store/memstore"
	"github.com/ctexchange/cte/sharing/store/storetest"
)

// TestSameAsMemstore runs one random history of merges, inactivations and
// failed updates on both stores and checks they hold the same records after
// every step.
func TestSameAsMemstore(t *testing.T) {
	t.Parallel()
	// 0: the default, nothing is folded; 1: folded at every Merge
	for _, foldAt := range []int{0, 1, 40} {
		t.Run(fmt.Sprint("fold at ", foldAt), func(t *testing.T) {
			t.Parallel()
			sameAsMemstore(t, foldAt, false)
		})
	}
	// every fold writes the records bucket anew
	for _, foldAt := range []int{1, 40} {
		t.Run(fmt.Sprint("rebuild at ", foldAt), func(t *testing.T) {
			t.Parallel()
			sameAsMemstore(t, foldAt, false, boltstore.WithRebuild(3))
		})
	}
	// closed and opened again every few steps: Close folds a log of foldAt/8
	// versions or more
	for _, foldAt := range []int{160, 400} {
		t.Run(fmt.Sprint("reopened, fold at ", foldAt), func(t *testing.T) {
			t.Parallel()
			sameAsMemstore(t, foldAt, true)
		})
	}
}

func sameAsMemstore(t *testing.T, foldAt int, reopen bool, opts ...boltstore.Option) {
	rng := rand.New(rand.NewPCG(7, 11))
	mem := memstore.New()
	t.Cleanup(func() { _ = mem.Close() })
	if foldAt > 0 {
		opts = append(opts, boltstore.WithFoldAt(foldAt))
	}
	path := filepath.Join(t.TempDir(), "state.db")
	bolt := openWith(t, path, opts...)
	folded, kept := 0, 0
	stores := []sharing.Store{mem, bolt}

	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	sources := []string{"mimecast", "netskope", "misp"}
	tags := [][]string{nil, {"malware"}, {"c2", "malware"}, {"phishing"}}
	randTime := func() time.Time {
		if rng.IntN(4) == 0 {
			return time.Time{}
		}
		return base.Add(time.Duration(rng.IntN(1e6)) * time.Second)
	}
	for step := range 60 {
		src := sources[rng.IntN(len(sources))]
		in := make([]ioc.Indicator, 1+rng.IntN(40))
		for i := range in {
			in[i] = ioc.Indicator{Type: ioc.TypeSHA256, Value: storetest.Hash(rng.IntN(150)),
				Severity: ioc.Severity(rng.IntN(5)), Reputation: rng.IntN(11), Comments: fmt.Sprint("c", rng.IntN(5)),
				Tags: tags[rng.IntN(len(tags))], FirstSeen: randTime(), LastSeen: randTime(), ExpiresAt: randTime()}
		}
		var inactive []string
		for range rng.IntN(10) {
			inactive = append(inactive, storetest.Hash(rng.IntN(150)))
		}
		inactiveSrc := sources[rng.IntN(len(sources))]
		fail := rng.IntN(5) == 0
		scan := rng.IntN(4) == 0 // an Update's scan that writes
		now := base.Add(time.Duration(step) * time.Hour)
		var stats []sharing.MergeStats
		for _, s := range stores {
			err := s.Update(t.Context(), func(tx sharing.Tx) error {
				st, err := tx.Merge(src, in, now)
				if err != nil {
					return err
				}
				stats = append(stats, st)
				if err := tx.SetInactive(inactiveSrc, inactive, now); err != nil {
					return err
				}
				if scan {
					err := tx.Records(func(r *sharing.Record) error {
						if r.Value[0] < '4' {
							return tx.SetInactive(src, []string{r.Value}, now)
						}
						return nil
					})
					if err != nil {
						return err
					}
				}
				if fail {
					return errors.New("fail")
				}
				return nil
			})
			require.Equal(t, fail, err != nil, "step %d: %v", step, err)
		}
		require.Equal(t, stats[0], stats[1], "step %d", step)
		require.Equal(t, dump(t, mem), dump(t, bolt), "step %d", step)
		require.Equal(t, rankedCounts(t, mem, sources), rankedCounts(t, bolt, sources), "step %d: ranked counts", step)
		if reopen && step%3 == 2 {
			before := boltstore.StagedLen(bolt)
			require.NoError(t, bolt.Close())
			bolt = openWith(t, path, opts...)
			stores[1] = bolt
			after := boltstore.StagedLen(bolt)
			if before >= foldAt/8 {
				folded++
				assert.Zero(t, after, "step %d: Close folds the log", step)
			} else {
				assert.Equal(t, before, after, "step %d: a small log stays", step)
			}
			kept = max(kept, before)
			require.Equal(t, dump(t, mem), dump(t, bolt), "step %d, reopened", step)
			require.Equal(t, rankedCounts(t, mem, sources), rankedCounts(t, bolt, sources), "step %d, reopened: ranked counts", step)
		}
	}
	if reopen {
		assert.Positive(t, folded, "Close folded")
		assert.Positive(t, kept, "the log was not empty")
	}
}

// rankedCounts returns RankedCount of every source, of each type alone and
// of all types.
func rankedCounts(t *testing.T, s sharing.Store, sources []string) map[string]int {
	t.Helper()
	out := map[string]int{}
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		rt := tx.(sharing.RankedTx)
		for _, src := range sources {
			for typ := range ioc.Type(8) {
				n, err := rt.RankedCount(src, func(x ioc.Type) bool { return x == typ })
				if err != nil {
					return err
				}
				out[fmt.Sprint(src, typ)] = n
			}
			n, err := rt.RankedCount(src, func(ioc.Type) bool { return true })
			if err != nil {
				return err
			}
			out[src] = n
		}
		return nil
	}))
	return out
}

func dump(t *testing.T, s sharing.Store) []sharing.Record {
	t.Helper()
	var out []sharing.Record
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		return tx.Records(func(r *sharing.Record) error {
			c := *r
			c.Entries = slices.Clone(r.Entries)
			for i := range c.Entries {
				c.Entries[i].Tags = slices.Clone(c.Entries[i].Tags)
			}
			out = append(out, c)
			return nil
		})
	}))
	return out
}
