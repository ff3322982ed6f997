package sharing_test

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/plugintest"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/memstore"
)

// scanCounter counts the whole-store scans (Records) made through it; its
// transactions keep the store's RankedTx.
type scanCounter struct {
	sharing.Store
	scans *atomic.Int64
}

type countedTx struct {
	sharing.Tx
	sharing.RankedTx
	scans *atomic.Int64
}

func (c countedTx) Records(fn func(*sharing.Record) error) error {
	c.scans.Add(1)
	return c.Tx.Records(fn)
}

func (s scanCounter) wrap(tx sharing.Tx) sharing.Tx {
	return countedTx{Tx: tx, RankedTx: tx.(sharing.RankedTx), scans: s.scans}
}

func (s scanCounter) View(ctx context.Context, fn func(sharing.Tx) error) error {
	return s.Store.View(ctx, func(tx sharing.Tx) error { return fn(s.wrap(tx)) })
}

func (s scanCounter) Update(ctx context.Context, fn func(sharing.Tx) error) error {
	return s.Store.Update(ctx, func(tx sharing.Tx) error { return fn(s.wrap(tx)) })
}

// TestAgingReadsOnlyWhatExpires runs the same months of a feed and its aging
// against a store that ranks (aging reads the entries seen before now minus
// the aging, RankedTx.RankedBefore) and against the same store read whole:
// the values aged out, when, and the retractions agree; the ranked store
// reads the whole source only for its first pass and after a feed gave an
// indicator its own expiry.
func TestAgingReadsOnlyWhatExpires(t *testing.T) {
	t.Parallel()
	var scans atomic.Int64
	var worlds [2]*engWorld
	for i := range worlds {
		w := &engWorld{store: memstore.New(), clock: &engClock{now: engStart}, logs: &bytes.Buffer{},
			mc: plugintest.NewFake(blockTarget), ns: plugintest.NewFake(hashListTarget, urlListTarget)}
		t.Cleanup(func() { _ = w.store.Close() })
		var s sharing.Store = scanCounter{w.store, &scans}
		if i == 1 {
			s = unranked{w.store}
		}
		w.eng = w.newEngine(t, s)
		worlds[i] = w
	}
	ctx := t.Context()
	sevs := []ioc.Severity{ioc.SeverityLow, ioc.SeverityMedium, ioc.SeverityHigh, ioc.SeverityCritical}
	inactive := func(w *engWorld) []string {
		var out []string
		require.NoError(t, w.store.View(ctx, func(tx sharing.Tx) error {
			return tx.Records(func(r *sharing.Record) error {
				if en, ok := r.Entry("mimecast"); ok && en.Inactive {
					out = append(out, r.Value)
				}
				return nil
			})
		}))
		return out
	}
	scansAt := map[string]int64{}
	for day := 0; day < 150; day += 5 {
		step := fmt.Sprintf("day %d", day)
		var feed []ioc.Indicator
		for i := range 20 {
			// seen over the last 40 days, newest first within a day
			seen := worlds[0].clock.Now().Add(-time.Duration((i*7+day)%40) * 24 * time.Hour).Add(-time.Duration(i) * time.Minute)
			feed = append(feed, engInd(fmt.Sprintf("d%d", day), i, sevs[i%4], seen))
		}
		if day == 20 {
			feed = append(feed, ioc.Indicator{Type: ioc.TypeSHA256, Value: engHash("noseen", day), Severity: ioc.SeverityHigh})
		}
		if day == 60 {
			own := engInd("own", day, ioc.SeverityHigh, worlds[0].clock.Now())
			own.ExpiresAt = worlds[0].clock.Now().Add(7 * 24 * time.Hour)
			feed = append(feed, own)
		}
		if day%25 == 0 { // a re-report makes an old value new again
			feed = append(feed, engInd("d0", 3, ioc.SeverityCritical, worlds[0].clock.Now()))
		}
		var ages [2]sharing.AgeReport
		for i, w := range worlds {
			w.mc.Feed(feed...)
			_, err := w.eng.SyncSource(ctx, "mimecast")
			require.NoError(t, err, step)
			ages[i], err = w.eng.Age(ctx)
			require.NoError(t, err, step)
			w.clock.Advance(5 * 24 * time.Hour)
		}
		assert.Equal(t, ages[1], ages[0], step)
		assert.Equal(t, inactive(worlds[1]), inactive(worlds[0]), step+": inactive values")
		scansAt[step] = scans.Load()
	}
	r, f := worlds[0], worlds[1]
	assert.NotEmpty(t, inactive(r), "values aged out")
	assert.Equal(t, f.ns.Pushes(), r.ns.Pushes(), "the lists pushed")
	// Whole-store reads of the ranked store: only while an entry has its own
	// expiry (from day 60 until a pass after it expired finds none); values
	// aged out before, from day 50, and after.
	assert.Equal(t, int64(0), scansAt["day 55"], "no whole-store read before the own expiry")
	assert.Greater(t, scansAt["day 65"], scansAt["day 55"], "full passes while an entry has its own expiry")
	assert.Equal(t, scansAt["day 90"], scansAt["day 145"], "no whole-store read after the own expiry passed")
}
