package sharing_test

import (
	"bytes"
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

// TestAppendBySourceAgreesWithFullScan runs the same cycles of the
// netskope → Mimecast BLOCK configuration against a store that lists a
// source's entries (RankedTx: the scan reads the source, the ledger and the
// marks) and against the same store read whole: pushes, retractions,
// ledgers, reports and plans agree, while a large other source (the
// Mimecast feed) fills the store around them.
func TestAppendBySourceAgreesWithFullScan(t *testing.T) {
	t.Parallel()
	var worlds [2]*engWorld
	for i, ranked := range []bool{true, false} {
		w := &engWorld{store: memstore.New(), clock: &engClock{now: engStart}, logs: &bytes.Buffer{},
			mc: plugintest.NewFake(blockTarget), ns: plugintest.NewFake(hashListTarget, urlListTarget)}
		t.Cleanup(func() { _ = w.store.Close() })
		var s sharing.Store = w.store
		if !ranked {
			s = unranked{w.store}
		}
		w.eng = w.newEngine(t, s)
		// refused for good: values starting with 0
		w.mc.SetReject(func(_ string, ind ioc.Indicator) *cte.Rejected {
			if ind.Value[0] == '0' {
				return &cte.Rejected{Value: ind.Value, Reason: "refused"}
			}
			return nil
		})
		worlds[i] = w
	}
	ctx := t.Context()
	cycle := func(step string, act func(w *engWorld)) {
		t.Helper()
		var reps [2]sharing.ShareReport
		var ages [2]sharing.AgeReport
		for i, w := range worlds {
			act(w)
			_, err := w.eng.SyncSource(ctx, "mimecast")
			require.NoError(t, err, step)
			_, err = w.eng.SyncSource(ctx, "netskope")
			require.NoError(t, err, step)
			ages[i], err = w.eng.Age(ctx)
			require.NoError(t, err, step)
			reps[i], err = w.eng.Share(ctx, "ns-to-mc")
			require.NoError(t, err, step)
		}
		r, f := worlds[0], worlds[1]
		assert.Equal(t, ages[1], ages[0], step+": aging")
		assert.Equal(t, reps[1], reps[0], step+": the report")
		assert.Equal(t, f.mc.Pushes(), r.mc.Pushes(), step+": pushes")
		assert.Equal(t, f.mc.Retractions(), r.mc.Retractions(), step+": retractions")
		assert.Equal(t, f.mc.Contents(blockTarget.ID), r.mc.Contents(blockTarget.ID), step+": BLOCK")
		assert.Equal(t, f.ledgerOf(t, "ns-to-mc"), r.ledgerOf(t, "ns-to-mc"), step+": the ledger")
		pr, err := r.eng.Plan(ctx, "ns-to-mc", 0)
		require.NoError(t, err)
		pf, err := f.eng.Plan(ctx, "ns-to-mc", 0)
		require.NoError(t, err)
		assert.Equal(t, pf, pr, step+": the plan")
	}
	alerts := engInds("ns", 40, ioc.SeverityHigh, engStart)
	alerts = append(alerts, engInds("nslow", 5, ioc.SeverityLow, engStart)...) // the rule leaves these out
	shared := engInd("both", 0, ioc.SeverityHigh, engStart)                    // from both sources: a loop
	cycle("first", func(w *engWorld) {
		w.mc.Feed(engInds("mc", 300, ioc.SeverityHigh, engStart)...)
		w.mc.Feed(shared)
		w.ns.Feed(alerts...)
		w.ns.Feed(shared)
	})
	require.NotEmpty(t, worlds[0].mc.Contents(blockTarget.ID))
	cycle("nothing new", func(w *engWorld) { w.clock.Advance(time.Hour) })
	cycle("marked and deleted", func(w *engWorld) {
		w.clock.Advance(time.Hour)
		_, err := w.eng.MarkSafe(ctx, []string{alerts[1].Value, alerts[2].Value, engInd("mc", 3, 0, engStart).Value}, "vendor installer")
		require.NoError(t, err)
		_, err = w.eng.Delete(ctx, []string{alerts[3].Value}, "test")
		require.NoError(t, err)
	})
	cycle("newer alerts", func(w *engWorld) {
		w.clock.Advance(10 * 24 * time.Hour)
		w.ns.Feed(engInds("ns2", 10, ioc.SeverityCritical, w.clock.Now())...)
	})
	cycle("the first alerts age out", func(w *engWorld) { w.clock.Advance(25 * 24 * time.Hour) })
	cycle("unmarked", func(w *engWorld) {
		w.clock.Advance(time.Hour)
		_, err := w.eng.UnmarkSafe(ctx, []string{alerts[1].Value})
		require.NoError(t, err)
	})
	assert.NotEmpty(t, worlds[0].mc.Retractions(), "the cycles retract something")
}
