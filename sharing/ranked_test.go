package sharing_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/plugintest"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/memstore"
)

// unranked hides the RankedTx capability of a store, so the engine reads the
// whole source to pack a Replace target.
type unranked struct{ sharing.Store }

type plainTx struct{ sharing.Tx }

func (u unranked) View(ctx context.Context, fn func(sharing.Tx) error) error {
	return u.Store.View(ctx, func(tx sharing.Tx) error { return fn(plainTx{tx}) })
}

func (u unranked) Update(ctx context.Context, fn func(sharing.Tx) error) error {
	return u.Store.Update(ctx, func(tx sharing.Tx) error { return fn(plainTx{tx}) })
}

// rankedWorld is an engine sharing a Mimecast-like feed to a small Replace
// list that takes sha256 only.
func rankedWorld(t *testing.T, ranked bool, list cte.Target) *engWorld {
	t.Helper()
	w := &engWorld{store: memstore.New(), clock: &engClock{now: engStart}, logs: &bytes.Buffer{},
		mc: plugintest.NewFake(blockTarget), ns: plugintest.NewFake(list, urlListTarget)}
	t.Cleanup(func() { _ = w.store.Close() })
	var s sharing.Store = w.store
	if !ranked {
		s = unranked{w.store}
	}
	w.eng = w.newEngine(t, s)
	require.NoError(t, w.eng.AddSharing(t.Context(), sharing.Config{Name: "mc-to-ns", Source: "mimecast", Rule: "hashes",
		Destination: "netskope", Target: list.ID}))
	// refused for good: a value the list would hold but the product will not
	w.ns.SetReject(func(_ string, ind ioc.Indicator) *cte.Rejected {
		if ind.Value[0] == '0' {
			return &cte.Rejected{Value: ind.Value, Reason: "refused"}
		}
		return nil
	})
	return w
}

func (w *engWorld) ledgerOf(t *testing.T, config string) []sharing.LedgerEntry {
	t.Helper()
	var out []sharing.LedgerEntry
	require.NoError(t, w.store.View(t.Context(), func(tx sharing.Tx) error {
		return tx.LedgerEntries(config, func(e *sharing.LedgerEntry) error {
			out = append(out, *e)
			return nil
		})
	}))
	return out
}

// TestRankedPackingAgreesWithFullScan runs the same cycles against a store
// read by priority (stopping once the list is full) and against the same
// store read whole: the lists pushed, the ledgers and the outcomes agree;
// the counts of what does not fit are upper bounds when the read stopped.
func TestRankedPackingAgreesWithFullScan(t *testing.T) {
	t.Parallel()
	t.Run("batches of 2048", func(t *testing.T) { testRankedAgrees(t, true) })
}

// TestRankedPackingSmallBatches reads the ranked values 3 at a time, so
// that a read crosses many batches (not parallel: it sets a package
// variable).
func TestRankedPackingSmallBatches(t *testing.T) {
	defer sharing.SetRankBatch(3)()
	testRankedAgrees(t, false)
}

// testRankedAgrees runs the same cycles on a ranked and an unranked store;
// the over-capacity counts must be equal where every value left over
// matches the rule and no applied value ranks after the read (the first
// share); exact says so of the second share too (with batches of 3, an
// applied value the read stops before is probed, and counted as left over
// too: an upper bound, as documented).
func testRankedAgrees(t *testing.T, exact bool) {
	for _, lim := range []cte.Limits{{MaxItems: 12}, {MaxBytes: 10 * 65}, {MaxItems: 30, MaxBytes: 9*65 + 64}} {
		t.Run(fmt.Sprint(lim.MaxItems, "/", lim.MaxBytes), func(t *testing.T) {
			list := cte.Target{ID: "file-hash-list/small", Mode: cte.Replace, Types: []ioc.Type{ioc.TypeSHA256}, Limits: lim}
			worlds := []*engWorld{rankedWorld(t, true, list), rankedWorld(t, false, list)}
			sevs := []ioc.Severity{ioc.SeverityLow, ioc.SeverityMedium, ioc.SeverityHigh, ioc.SeverityCritical}
			cycle := func(step string, feed []ioc.Indicator) {
				var reps [2]sharing.ShareReport
				for i, w := range worlds {
					w.mc.Feed(feed...)
					w.clock.Advance(time.Hour)
					_, err := w.eng.SyncSource(t.Context(), "mimecast")
					require.NoError(t, err, step)
					rep, err := w.eng.Share(t.Context(), "mc-to-ns")
					require.NoError(t, err, step)
					reps[i] = rep
				}
				r, f := reps[0], reps[1]
				assert.Equal(t, f.Applied, r.Applied, step)
				assert.Equal(t, f.Unchanged, r.Unchanged, step)
				assert.Equal(t, f.Rejected, r.Rejected, step)
				assert.Equal(t, f.Retracted, r.Retracted, step)
				assert.Equal(t, f.Pushed, r.Pushed, step)
				assert.GreaterOrEqual(t, r.OverCapacity, f.OverCapacity, step)
				assert.GreaterOrEqual(t, r.Matched, f.Matched, step)
				if step == "first" || exact && step == "newer" {
					// every value left over matches the rule: the count of
					// those the ranked read did not read is exact
					assert.Equal(t, f.OverCapacity, r.OverCapacity, step)
					assert.Equal(t, f.Matched, r.Matched, step)
				}
				got, want := worlds[0].ns.Contents(list.ID), worlds[1].ns.Contents(list.ID)
				slices.Sort(got)
				slices.Sort(want)
				assert.Equal(t, want, got, step+": the list")
				assert.NotEmpty(t, got, step)
				assert.Equal(t, worlds[1].ledgerOf(t, "mc-to-ns"), worlds[0].ledgerOf(t, "mc-to-ns"), step+": the ledger")
				pr, err := worlds[0].eng.Plan(t.Context(), "mc-to-ns", 0)
				require.NoError(t, err)
				pf, err := worlds[1].eng.Plan(t.Context(), "mc-to-ns", 0)
				require.NoError(t, err)
				assert.Equal(t, pf, pr, step+": Plan reads everything either way")
			}
			var feed []ioc.Indicator
			for i := range 60 {
				feed = append(feed, engInd("a", i, sevs[i%4], engStart.Add(-time.Duration(i%7)*time.Hour)))
				feed = append(feed, ioc.Indicator{Type: ioc.TypeMD5, Value: fmt.Sprintf("%032x", i+1), Severity: ioc.SeverityCritical, LastSeen: engStart})
			}
			cycle("first", feed)
			// newer critical values push applied ones out (over capacity now)
			cycle("newer", engInds("b", 10, ioc.SeverityCritical, engStart.Add(2*time.Hour)))
			// applied values the rule now leaves out are retracted
			var benign []ioc.Indicator
			for _, v := range worlds[0].ns.Contents(list.ID)[:3] {
				benign = append(benign, ioc.Indicator{Type: ioc.TypeSHA256, Value: v, Severity: ioc.SeverityLow, Tags: []string{"BENIGN"}, LastSeen: engStart.Add(3 * time.Hour)})
			}
			cycle("benign", benign)
			// the new values fall back: the older ones come back
			var lower []ioc.Indicator
			for i := range 10 {
				lower = append(lower, engInd("b", i, ioc.SeverityLow, engStart.Add(4*time.Hour)))
			}
			cycle("lower", lower)
			cycle("nothing new", nil)
		})
	}
}

// changedAfterScan is a store read whole (as unranked) whose Record, which
// the read of the packed list uses and the scan does not, sees the entries
// of one value made inactive: as if another writer had aged it between the
// share's scan and that read.
type changedAfterScan struct {
	sharing.Store
	value string
}

type changedTx struct {
	sharing.Tx
	value string
}

func (c changedAfterScan) View(ctx context.Context, fn func(sharing.Tx) error) error {
	return c.Store.View(ctx, func(tx sharing.Tx) error { return fn(changedTx{tx, c.value}) })
}

func (c changedAfterScan) Update(ctx context.Context, fn func(sharing.Tx) error) error {
	return c.Store.Update(ctx, func(tx sharing.Tx) error { return fn(plainTx{tx}) })
}

func (c changedTx) Record(value string) (sharing.Record, bool, error) {
	r, ok, err := c.Tx.Record(value)
	if ok && value == c.value {
		r.Entries = slices.Clone(r.Entries)
		for i := range r.Entries {
			r.Entries[i].Inactive = true
		}
	}
	return r, ok, err
}

// TestPackedValueChangedSinceTheScan: a packed value whose record changed
// between the scan and the read of the packed indicators is not pushed, and
// the applied set and the ledger record what was pushed, not the list as
// packed.
func TestPackedValueChangedSinceTheScan(t *testing.T) {
	t.Parallel()
	list := cte.Target{ID: "file-hash-list/small", Mode: cte.Replace, Types: []ioc.Type{ioc.TypeSHA256}, Limits: cte.Limits{MaxItems: 50}}
	w := &engWorld{store: memstore.New(), clock: &engClock{now: engStart}, logs: &bytes.Buffer{},
		mc: plugintest.NewFake(blockTarget), ns: plugintest.NewFake(list, urlListTarget)}
	t.Cleanup(func() { _ = w.store.Close() })
	var feed []ioc.Indicator
	for i := range 10 {
		feed = append(feed, ioc.Indicator{Type: ioc.TypeSHA256, Value: fmt.Sprintf("a%063x", i), Severity: ioc.SeverityHigh,
			LastSeen: engStart.Add(-time.Duration(i) * time.Minute)})
	}
	victim := feed[3].Value
	w.eng = w.newEngine(t, changedAfterScan{w.store, victim})
	require.NoError(t, w.eng.AddSharing(t.Context(), sharing.Config{Name: "mc-to-ns", Source: "mimecast", Rule: "hashes",
		Destination: "netskope", Target: list.ID}))
	w.mc.Feed(feed...)
	_, err := w.eng.SyncSource(t.Context(), "mimecast")
	require.NoError(t, err)
	_, err = w.eng.Share(t.Context(), "mc-to-ns")
	require.NoError(t, err)

	got := w.ns.Contents(list.ID)
	assert.Len(t, got, 9)
	assert.NotContains(t, got, victim, "changed since the scan: not pushed")
	var set sharing.AppliedSet
	require.NoError(t, w.store.View(t.Context(), func(tx sharing.Tx) error {
		var err error
		set, _, err = tx.AppliedSet("mc-to-ns")
		return err
	}))
	assert.Equal(t, len(got), set.Count, "the applied set counts what was pushed")
	slices.Sort(got)
	h := sha256.New()
	for _, v := range got {
		h.Write([]byte(v + "\n"))
	}
	assert.Equal(t, hex.EncodeToString(h.Sum(nil)), set.Digest, "and is the digest of what was pushed")
	for _, le := range w.ledgerOf(t, "mc-to-ns") {
		assert.NotEqual(t, victim, le.Value, "no ledger entry for what was not pushed")
	}
}
