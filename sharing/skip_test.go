package sharing_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
)

// syncedFaultyWorld is a faulty world where both sources synced once.
func syncedFaultyWorld(t *testing.T) (*engWorld, *faultyStore) {
	t.Helper()
	w, fs := newFaultyWorld(t)
	w.mc.Feed(engInds("mc", 5, ioc.SeverityHigh, engStart)...)
	w.ns.Feed(engInds("ns", 5, ioc.SeverityHigh, engStart)...)
	for _, src := range []string{"mimecast", "netskope"} {
		_, err := w.eng.SyncSource(t.Context(), src)
		require.NoError(t, err)
	}
	return w, fs
}

// TestSkipNothingChanged: a sync with nothing new reads no record (the store
// fails any scan) and reports what stands.
func TestSkipNothingChanged(t *testing.T) {
	t.Parallel()
	w, fs := syncedFaultyWorld(t)
	pushes := len(w.mc.Pushes()) + len(w.ns.Pushes())
	w.clock.Advance(time.Hour)
	fs.set("Records", true)
	rep, err := w.eng.SyncSource(t.Context(), "netskope")
	require.NoError(t, err, "the aging pass and the share read nothing")
	require.Len(t, rep.Shares, 1)
	assert.Equal(t, 5, rep.Shares[0].Unchanged)
	assert.Equal(t, 5, rep.Shares[0].Matched)
	rep, err = w.eng.SyncSource(t.Context(), "mimecast")
	require.NoError(t, err)
	assert.Equal(t, 5, rep.Shares[0].Unchanged, "the Replace list stands")
	assert.Equal(t, pushes, len(w.mc.Pushes())+len(w.ns.Pushes()), "nothing pushed")
	_, err = w.eng.Age(t.Context())
	require.NoError(t, err, "Age reads nothing either")

	// Forcing a share reads again.
	_, err = w.eng.Share(t.Context(), "mc-to-ns", sharing.WithForce())
	require.ErrorIs(t, err, errDisk)
}

// TestSkipRunsAgain: each thing a share reads makes it run again.
func TestSkipRunsAgain(t *testing.T) {
	t.Parallel()
	t.Run("new indicator", func(t *testing.T) {
		t.Parallel()
		w, fs := syncedFaultyWorld(t)
		w.ns.Feed(engInd("ns-new", 0, ioc.SeverityHigh, engStart))
		_, err := w.eng.SyncSource(t.Context(), "netskope")
		require.NoError(t, err)
		assert.Contains(t, w.mc.Contents(blockTarget.ID), engHash("ns-new", 0))
		fs.set("Records", true)
		_, err = w.eng.SyncSource(t.Context(), "netskope")
		require.NoError(t, err, "and then nothing changed")
	})
	t.Run("indicator from the destination", func(t *testing.T) {
		t.Parallel()
		w, fs := syncedFaultyWorld(t)
		// Netskope reports a Mimecast value: loop prevention drops it from the list.
		w.ns.Feed(engInd("mc", 0, ioc.SeverityHigh, engStart))
		_, err := w.eng.SyncSource(t.Context(), "netskope")
		require.NoError(t, err)
		fs.set("Records", true)
		_, err = w.eng.Share(t.Context(), "mc-to-ns")
		require.ErrorIs(t, err, errDisk, "the destination's entries changed: the list is computed again")
	})
	t.Run("never-share value from the destination", func(t *testing.T) {
		t.Parallel()
		w, fs := syncedFaultyWorld(t)
		empty := ioc.Indicator{Type: ioc.TypeSHA256, Value: ioc.EmptySHA256, Severity: ioc.SeverityHigh, LastSeen: engStart}
		w.mc.Feed(empty)
		_, err := w.eng.SyncSource(t.Context(), "mimecast")
		require.NoError(t, err)
		w.ns.Feed(empty) // the empty-file hash from both: no list can hold it
		_, err = w.eng.SyncSource(t.Context(), "netskope")
		require.NoError(t, err)
		fs.set("Records", true)
		_, err = w.eng.Share(t.Context(), "mc-to-ns")
		require.NoError(t, err, "a value no configuration shares does not count as a loop")
	})
	t.Run("retry falls due", func(t *testing.T) {
		t.Parallel()
		w, fs := newFaultyWorld(t)
		w.mc.SetReject(func(string, ioc.Indicator) *cte.Rejected { return &cte.Rejected{Reason: "busy", Retryable: true} })
		w.ns.Feed(engInds("ns", 2, ioc.SeverityHigh, engStart)...)
		rep, err := w.eng.SyncSource(t.Context(), "netskope")
		require.NoError(t, err)
		require.Equal(t, 2, rep.Shares[0].Retrying)
		w.mc.SetReject(nil)
		fs.set("Records", true)
		rep, err = w.eng.SyncSource(t.Context(), "netskope")
		require.NoError(t, err, "not due yet: skipped")
		assert.Equal(t, 2, rep.Shares[0].Waiting)
		w.clock.Advance(2 * time.Minute)
		_, err = w.eng.SyncSource(t.Context(), "netskope")
		require.ErrorIs(t, err, errDisk, "due: read again")
		fs.set("Records", false)
		rep, err = w.eng.SyncSource(t.Context(), "netskope")
		require.NoError(t, err)
		assert.Equal(t, 2, rep.Shares[0].Applied)
	})
	t.Run("expiry", func(t *testing.T) {
		t.Parallel()
		w, fs := syncedFaultyWorld(t)
		w.clock.Advance(31 * 24 * time.Hour) // netskope ages after 30 days
		fs.set("Records", true)
		_, err := w.eng.SyncSource(t.Context(), "netskope")
		require.ErrorIs(t, err, errDisk, "something expired: the aging pass reads")
		fs.set("Records", false)
		rep, err := w.eng.SyncSource(t.Context(), "netskope")
		require.NoError(t, err)
		assert.Equal(t, 5, rep.Inactive)
		assert.Len(t, w.mc.Retractions(), 2, "retracted in batches of 4")
	})
	t.Run("rule", func(t *testing.T) {
		t.Parallel()
		w, fs := syncedFaultyWorld(t)
		require.NoError(t, w.eng.AddRule(sharing.Rule{Name: "malware", Filter: "severity >= critical"}))
		fs.set("Records", true)
		_, err := w.eng.Share(t.Context(), "ns-to-mc")
		require.ErrorIs(t, err, errDisk, "another rule: read again")
	})
	t.Run("time-dependent rule", func(t *testing.T) {
		t.Parallel()
		w, fs := syncedFaultyWorld(t)
		require.NoError(t, w.eng.AddRule(sharing.Rule{Name: "malware", Filter: "lastSeen > 7d"}))
		_, err := w.eng.Share(t.Context(), "ns-to-mc")
		require.NoError(t, err)
		fs.set("Records", true)
		_, err = w.eng.Share(t.Context(), "ns-to-mc")
		require.ErrorIs(t, err, errDisk, "a rule about time is never skipped")
	})
}

// TestAgingFollowsPulls: an indicator pulled with an old lastSeen ages out on
// time although the aging pass skips the rest of the source.
func TestAgingFollowsPulls(t *testing.T) {
	t.Parallel()
	w, _ := syncedFaultyWorld(t)
	w.ns.Feed(engInd("old", 0, ioc.SeverityHigh, engStart.Add(-29*24*time.Hour)))
	rep, err := w.eng.SyncSource(t.Context(), "netskope")
	require.NoError(t, err)
	assert.Zero(t, rep.Inactive)
	w.clock.Advance(2 * 24 * time.Hour)
	rep, err = w.eng.SyncSource(t.Context(), "netskope")
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Inactive, "the old one aged out")
	assert.NotContains(t, w.mc.Contents(blockTarget.ID), engHash("old", 0))
}

// TestRetryNow: WithRetryNow sends the retryable indicators before their next
// attempt is due.
func TestRetryNow(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	w.mc.SetReject(func(string, ioc.Indicator) *cte.Rejected { return &cte.Rejected{Reason: "busy", Retryable: true} })
	w.ns.Feed(engInds("ns", 3, ioc.SeverityHigh, engStart)...)
	rep, err := w.eng.SyncSource(t.Context(), "netskope")
	require.NoError(t, err)
	require.Equal(t, 3, rep.Shares[0].Retrying)
	w.mc.SetReject(nil)
	rep, err = w.eng.SyncSource(t.Context(), "netskope")
	require.NoError(t, err)
	assert.Equal(t, 3, rep.Shares[0].Waiting, "not due for a minute")
	rep, err = w.eng.SyncSource(t.Context(), "netskope", sharing.WithRetryNow())
	require.NoError(t, err)
	assert.Equal(t, 3, rep.Shares[0].Applied, "sent now")
	assert.Len(t, w.mc.Contents(blockTarget.ID), 3)
}

// TestStoppedPushIsNoAttempt: a push stopped by its context, reported by the
// plugin as retryable rejections, starts no backoff: the next share sends
// the values at once.
func TestStoppedPushIsNoAttempt(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	w.ns.Feed(engInds("ns", 3, ioc.SeverityHigh, engStart)...)
	ctx, cancel := context.WithCancel(t.Context())
	w.mc.SetReject(func(string, ioc.Indicator) *cte.Rejected {
		cancel() // Ctrl-C while the batch is on its way
		return &cte.Rejected{Reason: "not sent: context canceled", Retryable: true}
	})
	_, _ = w.eng.SyncSource(ctx, "netskope")
	w.mc.SetReject(nil)
	var le sharing.LedgerEntry
	require.NoError(t, w.store.View(t.Context(), func(tx sharing.Tx) error {
		var err error
		le, _, err = tx.Ledger("ns-to-mc", engHash("ns", 0))
		return err
	}))
	assert.Equal(t, sharing.StateRetryable, le.State)
	assert.Zero(t, le.Attempts, "a stopped push is no failed attempt")
	assert.False(t, le.NextAttempt.After(engStart), "due at once")
	rep, err := w.eng.Share(t.Context(), "ns-to-mc")
	require.NoError(t, err)
	assert.Equal(t, 3, rep.Applied, "sent on the next run without waiting")
}
