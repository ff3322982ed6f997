package sharing_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
)

// TestReReportAfterOwnExpirySharesAgain: an indicator that came with its own
// ExpiresAt, expired and was retracted, then is reported again (seen after its
// expiry, without a new ExpiresAt) is active again and shared again.
func TestReReportAfterOwnExpirySharesAgain(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	ctx := t.Context()
	ind := engInd("exp", 0, ioc.SeverityHigh, engStart)
	ind.ExpiresAt = engStart.Add(24 * time.Hour)
	w.ns.Feed(ind)
	_, err := w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	require.Equal(t, []string{ind.Value}, w.mc.Contents(blockTarget.ID))

	w.clock.Advance(48 * time.Hour)
	rep, err := w.eng.Age(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, rep.Retracted)
	require.Empty(t, w.mc.Contents(blockTarget.ID))

	again := ind
	again.ExpiresAt = time.Time{}
	again.LastSeen = w.clock.Now()
	w.ns.Feed(again)
	sync, err := w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	assert.Zero(t, sync.Inactive, "re-seen after its expiry: active again")
	require.Len(t, sync.Shares, 1)
	assert.Equal(t, 1, sync.Shares[0].Applied)
	assert.Equal(t, []string{ind.Value}, w.mc.Contents(blockTarget.ID))
	le, ok := w.ledger(t, "ns-to-mc", ind.Value)
	require.True(t, ok)
	assert.Equal(t, sharing.StateApplied, le.State)
	ex, err := w.eng.Explain(ctx, ind.Value)
	require.NoError(t, err)
	require.Len(t, ex.Sources, 1)
	assert.True(t, ex.Sources[0].Active, ex.Sources[0].Why)

	// It still ages out by the source's aging period after this sighting.
	w.clock.Advance(31 * 24 * time.Hour)
	rep, err = w.eng.Age(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Retracted)
}
