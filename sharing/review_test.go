package sharing_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/plugintest"
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

// TestAppendOverCapacityRetriedWhenSpaceFrees: values an Append target refuses
// because it is full are retried (with the growing delay), not rejected for good,
// so they are shared once retraction frees space.
func TestAppendOverCapacityRetriedWhenSpaceFrees(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	ctx := t.Context()
	small := cte.Target{ID: "operation/SMALL", Mode: cte.Append, Types: []ioc.Type{ioc.TypeSHA256}, Limits: cte.Limits{MaxItems: 3}}
	dst := plugintest.NewFake(small)
	require.NoError(t, w.eng.AddPlugin("small", dst, sharing.SourceSettings{}))
	require.NoError(t, w.eng.AddSharing(ctx, sharing.Config{Name: "ns-to-small", Source: "netskope", Rule: "malware",
		Destination: "small", Target: small.ID}))
	old := engInds("old", 3, ioc.SeverityCritical, engStart)
	for i := range old {
		old[i].ExpiresAt = engStart.Add(time.Hour)
	}
	later := engInds("later", 2, ioc.SeverityHigh, engStart)
	w.ns.Feed(append(old, later...)...)
	rep, err := w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	sr := rep.Shares[1]
	require.Equal(t, "ns-to-small", sr.Config)
	assert.Equal(t, 3, sr.Applied)
	assert.Equal(t, 2, sr.OverCapacity, "reported as over capacity")
	assert.Zero(t, sr.Rejected, "a full target is not a rejection for good")
	le, ok := w.ledger(t, "ns-to-small", later[0].Value)
	require.True(t, ok)
	assert.Equal(t, sharing.StateRetryable, le.State)

	w.clock.Advance(2 * time.Hour)
	_, err = w.eng.Age(ctx)
	require.NoError(t, err)
	require.Empty(t, dst.Contents(small.ID))
	rep, err = w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	assert.Equal(t, 2, rep.Shares[1].Applied)
	assert.ElementsMatch(t, engValues(later), dst.Contents(small.ID))
}

// brokenRetract is a destination whose retractions fail.
type brokenRetract struct {
	*plugintest.Fake
	err error
}

func (b *brokenRetract) Retract(ctx context.Context, t cte.Target, in []ioc.Indicator) (cte.PushResult, error) {
	if b.err != nil {
		return cte.PushResult{}, b.err
	}
	return b.Fake.Retract(ctx, t, in)
}

// TestRetractionFailureDoesNotBlockPushes: a destination that fails to retract
// still gets the new indicators; the retraction is audited and tried again.
func TestRetractionFailureDoesNotBlockPushes(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	ctx := t.Context()
	br := &brokenRetract{Fake: w.mc}
	require.NoError(t, w.eng.AddPlugin("mimecast", br, sharing.SourceSettings{}))
	old := engInds("old", 2, ioc.SeverityHigh, engStart)
	w.ns.Feed(old...)
	_, err := w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)

	w.clock.Advance(31 * 24 * time.Hour)
	br.err = errors.New("mimecast: DELETE operation refused: HTTP 400 bad request")
	fresh := engInds("fresh", 2, ioc.SeverityHigh, w.clock.Now())
	w.ns.Feed(fresh...)
	rep, err := w.eng.SyncSource(ctx, "netskope")
	require.ErrorContains(t, err, "DELETE operation refused")
	sr := rep.Shares[0]
	assert.Equal(t, 2, sr.Applied, "the new indicators are pushed although the retraction failed")
	assert.Subset(t, w.mc.Contents(blockTarget.ID), engValues(fresh))
	le, ok := w.ledger(t, "ns-to-mc", old[0].Value)
	require.True(t, ok)
	assert.Equal(t, sharing.StateApplied, le.State, "still on the target until a retraction works")
	errs := findLogs(t, w.eng, "ns-to-mc", slog.LevelError)
	require.NotEmpty(t, errs)
	assert.Contains(t, errs[0].Message, "DELETE operation refused")

	br.err = nil
	rep, err = w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	assert.Equal(t, 2, rep.Shares[0].Retracted)
	assert.ElementsMatch(t, engValues(fresh), w.mc.Contents(blockTarget.ID))
}

func (t faultyTx) AppliedSet(config string) (sharing.AppliedSet, bool, error) {
	if t.s.failing("AppliedSet") {
		return sharing.AppliedSet{}, false, errDisk
	}
	return t.Tx.AppliedSet(config)
}

// TestStoreErrorsAudited: every store failure that stops a share or a
// retraction is an audit error entry naming it, not only a returned error.
func TestStoreErrorsAudited(t *testing.T) {
	t.Parallel()
	hasError := func(t *testing.T, eng *sharing.Engine, config, text string) {
		t.Helper()
		for _, a := range findLogs(t, eng, config, slog.LevelError) {
			if strings.Contains(a.Message, text) && strings.Contains(a.Message, errDisk.Error()) && a.Resolution != "" {
				return
			}
		}
		t.Errorf("no audit error entry of %s says %q and %q", config, text, errDisk)
	}
	t.Run("record retraction", func(t *testing.T) {
		t.Parallel()
		w, fs := newFaultyWorld(t)
		ctx := t.Context()
		w.ns.Feed(engInds("ns", 2, ioc.SeverityHigh, engStart)...)
		_, err := w.eng.SyncSource(ctx, "netskope")
		require.NoError(t, err)
		w.clock.Advance(31 * 24 * time.Hour)
		fs.set("PutLedger", true)
		_, err = w.eng.Age(ctx)
		require.ErrorIs(t, err, errDisk)
		fs.set("PutLedger", false)
		hasError(t, w.eng, "ns-to-mc", "record retraction")
	})
	t.Run("read applied set", func(t *testing.T) {
		t.Parallel()
		w, fs := newFaultyWorld(t)
		ctx := t.Context()
		w.mc.Feed(engInds("mc", 2, ioc.SeverityHigh, engStart)...)
		fs.set("AppliedSet", true)
		_, err := w.eng.SyncSource(ctx, "mimecast")
		require.ErrorIs(t, err, errDisk)
		fs.set("AppliedSet", false)
		hasError(t, w.eng, "mc-to-ns", "record its target") // the first read of it
	})
	t.Run("record inactive retryable", func(t *testing.T) {
		t.Parallel()
		w, fs := newFaultyWorld(t)
		ctx := t.Context()
		w.mc.SetReject(func(string, ioc.Indicator) *cte.Rejected { return &cte.Rejected{Reason: "busy", Retryable: true} })
		w.ns.Feed(engInds("ns", 1, ioc.SeverityHigh, engStart)...)
		_, err := w.eng.SyncSource(ctx, "netskope")
		require.NoError(t, err)
		w.clock.Advance(31 * 24 * time.Hour)
		fs.set("PutLedger", true)
		_, err = w.eng.Share(ctx, "ns-to-mc")
		fs.set("PutLedger", false)
		require.ErrorIs(t, err, errDisk)
		hasError(t, w.eng, "ns-to-mc", "record inactive retryable")
	})
	t.Run("record held", func(t *testing.T) {
		t.Parallel()
		w, fs := newFaultyWorld(t)
		ctx := t.Context()
		fp := &failingPlugin{Fake: w.mc, failAt: 1, err: fmt.Errorf("push: %w", &cte.RateLimitError{Wait: time.Hour, Reason: "HTTP 429"})}
		require.NoError(t, w.eng.AddPlugin("mimecast", fp, sharing.SourceSettings{}))
		w.ns.Feed(engInds("ns", 1, ioc.SeverityHigh, engStart)...)
		_, err := w.eng.SyncSource(ctx, "netskope")
		require.ErrorIs(t, err, cte.ErrRateLimited)
		w.ns.Feed(engInds("ns2", 1, ioc.SeverityHigh, engStart)...)
		fs.set("PutLedger", true)
		_, err = w.eng.SyncSource(ctx, "netskope") // the new one is held
		fs.set("PutLedger", false)
		require.ErrorIs(t, err, errDisk)
		hasError(t, w.eng, "ns-to-mc", "record held indicators")
	})
	t.Run("record unchanged list", func(t *testing.T) {
		t.Parallel()
		w, fs := newFaultyWorld(t)
		ctx := t.Context()
		w.addTinyList(t)
		w.mc.Feed(engInds("mc", 2, ioc.SeverityCritical, engStart)...)
		_, err := w.eng.SyncSource(ctx, "mimecast")
		require.NoError(t, err)
		// A new value that does not fit: the list does not change; recording
		// that in the ledger fails. (With nothing new the share is skipped.)
		w.mc.Feed(engInds("mc-low", 1, ioc.SeverityLow, engStart)...)
		fs.set("PutLedger", true)
		_, err = w.eng.SyncSource(ctx, "mimecast")
		fs.set("PutLedger", false)
		require.ErrorIs(t, err, errDisk)
		hasError(t, w.eng, "mc-to-tiny", "record")
	})
}

// TestValueTooLongAfterNormalising: a value short enough as pulled but longer
// than a store keeps once normalised (a URL whose non-ASCII path is
// percent-encoded triples in size) is counted invalid; it does not make its page
// fail to store on every pull, which would stop the source for good.
func TestValueTooLongAfterNormalising(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	ctx := t.Context()
	long := ioc.Indicator{Type: ioc.TypeURL, Value: "http://example.com/" + strings.Repeat("é", 5000), LastSeen: engStart}
	ok := ioc.Indicator{Type: ioc.TypeURL, Value: "http://example.com/ok", LastSeen: engStart}
	w.ns.Feed(long, ok)
	rep, err := w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Pages)
	assert.Equal(t, 1, rep.Indicators)
	assert.Equal(t, 1, rep.Invalid)
	recs, err := w.eng.Indicators(ctx, "type == url", 0)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, ok.Value, recs[0].Value)
}

// TestRateLimitWaitHoldsTheTarget: after a product asks for a wait, nothing is
// pushed to that target before it ends: neither a Replace list again, nor new
// indicators for an Append target (they are recorded to go when it ends).
func TestRateLimitWaitHoldsTheTarget(t *testing.T) {
	t.Parallel()
	limited := fmt.Errorf("push: %w", &cte.RateLimitError{Wait: 30 * time.Minute, Reason: "HTTP 429"})
	t.Run("replace", func(t *testing.T) {
		t.Parallel()
		w := newEngWorld(t)
		ctx := t.Context()
		fp := &failingPlugin{Fake: w.ns, failAt: 1, err: limited}
		require.NoError(t, w.eng.AddPlugin("netskope", fp, sharing.SourceSettings{Aging: 30 * 24 * time.Hour}))
		w.mc.Feed(engInds("mc", 3, ioc.SeverityHigh, engStart)...)
		_, err := w.eng.SyncSource(ctx, "mimecast")
		require.ErrorIs(t, err, cte.ErrRateLimited)

		w.clock.Advance(10 * time.Minute)
		rep, err := w.eng.SyncSource(ctx, "mimecast")
		require.NoError(t, err)
		assert.Equal(t, 1, fp.calls, "no push while the product asked to wait")
		assert.False(t, rep.Shares[0].Pushed)
		assert.Equal(t, 3, rep.Shares[0].Retrying)

		w.clock.Advance(21 * time.Minute)
		rep, err = w.eng.SyncSource(ctx, "mimecast")
		require.NoError(t, err)
		assert.True(t, rep.Shares[0].Pushed)
		assert.Len(t, w.ns.Contents(hashListTarget.ID), 3)
	})
	t.Run("append", func(t *testing.T) {
		t.Parallel()
		w := newEngWorld(t)
		ctx := t.Context()
		fp := &failingPlugin{Fake: w.mc, failAt: 1, err: limited}
		require.NoError(t, w.eng.AddPlugin("mimecast", fp, sharing.SourceSettings{}))
		w.ns.Feed(engInds("ns", 2, ioc.SeverityHigh, engStart)...)
		_, err := w.eng.SyncSource(ctx, "netskope")
		require.ErrorIs(t, err, cte.ErrRateLimited)

		w.clock.Advance(10 * time.Minute)
		fresh := engInd("fresh", 0, ioc.SeverityHigh, w.clock.Now())
		w.ns.Feed(fresh)
		rep, err := w.eng.SyncSource(ctx, "netskope")
		require.NoError(t, err)
		assert.Equal(t, 1, fp.calls, "no push while the product asked to wait")
		assert.Equal(t, 1, rep.Shares[0].Retrying)
		le, ok := w.ledger(t, "ns-to-mc", fresh.Value)
		require.True(t, ok, "the held indicator is recorded")
		assert.Equal(t, sharing.StateRetryable, le.State)
		assert.Equal(t, engStart.Add(30*time.Minute), le.NextAttempt)

		w.clock.Advance(21 * time.Minute)
		rep, err = w.eng.SyncSource(ctx, "netskope")
		require.NoError(t, err)
		assert.Equal(t, 3, rep.Shares[0].Applied)
	})
	t.Run("retraction", func(t *testing.T) {
		t.Parallel()
		w := newEngWorld(t)
		ctx := t.Context()
		fp := &failingPlugin{Fake: w.mc, failAt: 2, err: limited}
		require.NoError(t, w.eng.AddPlugin("mimecast", fp, sharing.SourceSettings{}))
		old := engInds("ns", 2, ioc.SeverityHigh, engStart)
		w.ns.Feed(old...)
		_, err := w.eng.SyncSource(ctx, "netskope")
		require.NoError(t, err)
		w.clock.Advance(30*24*time.Hour - 10*time.Minute)
		w.ns.Feed(engInd("fresh", 0, ioc.SeverityHigh, w.clock.Now()))
		_, err = w.eng.SyncSource(ctx, "netskope")
		require.ErrorIs(t, err, cte.ErrRateLimited)

		w.clock.Advance(20 * time.Minute) // old aged out; still inside the wait
		rep, err := w.eng.Age(ctx)
		require.NoError(t, err)
		assert.Zero(t, rep.Retracted)
		assert.Empty(t, w.mc.Retractions(), "no retraction while the product asked to wait")

		w.clock.Advance(15 * time.Minute)
		rep, err = w.eng.Age(ctx)
		require.NoError(t, err)
		assert.Equal(t, 2, rep.Retracted)
	})
}

// TestGuardrailNegativeShare: a negative share means "refuse any removal", like
// 0; it does not refuse pushes that remove nothing.
func TestGuardrailNegativeShare(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t, sharing.WithGuardrail(-0.5, 1))
	ctx := t.Context()
	w.mc.Feed(engInds("mc", 2, ioc.SeverityHigh, engStart)...)
	_, err := w.eng.SyncSource(ctx, "mimecast")
	require.NoError(t, err)
	w.mc.Feed(engInd("more", 0, ioc.SeverityHigh, engStart))
	rep, err := w.eng.SyncSource(ctx, "mimecast")
	require.NoError(t, err, "adding removes nothing")
	assert.True(t, rep.Shares[0].Pushed)
	assert.Len(t, w.ns.Contents(hashListTarget.ID), 3)
}

// TestChangedTargetSharesAgain: a sharing configuration given another
// destination or target under the same name (an edited configuration file on
// restart) shares everything to the new target; the old ledger does not make it
// look applied there already.
func TestChangedTargetSharesAgain(t *testing.T) {
	t.Parallel()
	t.Run("append", func(t *testing.T) {
		t.Parallel()
		w := newEngWorld(t)
		ctx := t.Context()
		w.ns.Feed(engInds("ns", 3, ioc.SeverityHigh, engStart)...)
		_, err := w.eng.SyncSource(ctx, "netskope")
		require.NoError(t, err)
		require.Len(t, w.mc.Contents(blockTarget.ID), 3)

		other := plugintest.NewFake(blockTarget)
		eng := w.newEngine(t, w.store) // a restart with the edited configuration
		require.NoError(t, eng.AddPlugin("other", other, sharing.SourceSettings{}))
		require.NoError(t, eng.AddSharing(ctx, sharing.Config{Name: "ns-to-mc", Source: "netskope", Rule: "malware",
			Destination: "other", Target: blockTarget.ID}))
		p, err := eng.Plan(ctx, "ns-to-mc", 0)
		require.NoError(t, err)
		assert.Equal(t, 3, p.New, "the plan agrees")
		ex, err := eng.Explain(ctx, engHash("ns", 0))
		require.NoError(t, err)
		require.Len(t, ex.Sharing, 2)
		assert.Nil(t, ex.Sharing[1].Ledger, "the old target's ledger is not this one's")
		assert.Contains(t, ex.Sharing[1].Why, "ledger: new")
		rep, err := eng.Share(ctx, "ns-to-mc")
		require.NoError(t, err)
		assert.Equal(t, 3, rep.Applied)
		assert.Len(t, other.Contents(blockTarget.ID), 3)
	})
	t.Run("replace", func(t *testing.T) {
		t.Parallel()
		w := newEngWorld(t)
		ctx := t.Context()
		w.mc.Feed(engInds("mc", 3, ioc.SeverityHigh, engStart)...)
		_, err := w.eng.SyncSource(ctx, "mimecast")
		require.NoError(t, err)
		require.Len(t, w.ns.Contents(hashListTarget.ID), 3)

		second := hashListTarget
		second.ID = "file-hash-list/Second"
		other := plugintest.NewFake(second)
		require.NoError(t, w.eng.AddPlugin("other", other, sharing.SourceSettings{}))
		require.NoError(t, w.eng.AddSharing(ctx, sharing.Config{Name: "mc-to-ns", Source: "mimecast", Rule: "hashes",
			Destination: "other", Target: second.ID}))
		p, err := w.eng.Plan(ctx, "mc-to-ns", 0)
		require.NoError(t, err)
		assert.True(t, p.WouldPush, "the plan agrees")
		assert.Equal(t, 3, p.New)
		rep, err := w.eng.Share(ctx, "mc-to-ns")
		require.NoError(t, err)
		assert.True(t, rep.Pushed)
		assert.Equal(t, 3, rep.Applied)
		assert.Len(t, other.Contents(second.ID), 3)
		warn := findLogs(t, w.eng, "mc-to-ns", slog.LevelWarn)
		require.NotEmpty(t, warn)
		assert.Contains(t, warn[0].Message, "file-hash-list/Second")
	})
}

// TestRefusedUpdateStillRetracted: when the new version of an applied indicator
// is refused (for good or for now), the target still holds the old one, so it is
// retracted when the indicator ages out; a retryable refusal is retried.
func TestRefusedUpdateStillRetracted(t *testing.T) {
	t.Parallel()
	for _, retryable := range []bool{false, true} {
		t.Run(fmt.Sprint("retryable=", retryable), func(t *testing.T) {
			t.Parallel()
			w := newEngWorld(t)
			ctx := t.Context()
			ind := engInd("upd", 0, ioc.SeverityHigh, engStart)
			w.ns.Feed(ind)
			_, err := w.eng.SyncSource(ctx, "netskope")
			require.NoError(t, err)
			require.Equal(t, []string{ind.Value}, w.mc.Contents(blockTarget.ID))

			w.mc.SetReject(func(_ string, in ioc.Indicator) *cte.Rejected {
				if in.Comments == "too long" {
					return &cte.Rejected{Reason: "description too long", Retryable: retryable}
				}
				return nil
			})
			changed := ind
			changed.Comments = "too long"
			w.ns.Feed(changed)
			rep, err := w.eng.SyncSource(ctx, "netskope")
			require.NoError(t, err)
			if retryable {
				assert.Equal(t, 1, rep.Shares[0].Retrying)
			} else {
				assert.Equal(t, 1, rep.Shares[0].Rejected)
			}
			w.clock.Advance(time.Hour)
			before := len(w.mc.Pushes())
			rep, err = w.eng.SyncSource(ctx, "netskope")
			require.NoError(t, err)
			if retryable {
				assert.Len(t, w.mc.Pushes(), before+1, "a retryable refusal is retried")
			} else {
				assert.Len(t, w.mc.Pushes(), before, "not sent again until it changes")
				assert.Equal(t, 1, rep.Shares[0].Rejected)
			}

			w.clock.Advance(31 * 24 * time.Hour)
			age, err := w.eng.Age(ctx)
			require.NoError(t, err)
			assert.Equal(t, 1, age.Retracted, "the target held the old version")
			assert.Empty(t, w.mc.Contents(blockTarget.ID))
		})
	}
}

// TestReplaceRefusalOfAppliedValue: a Replace list that refuses a value it held
// before no longer holds it: the ledger says rejected, not applied.
func TestReplaceRefusalOfAppliedValue(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	ctx := t.Context()
	feed := engInds("mc", 2, ioc.SeverityHigh, engStart)
	w.mc.Feed(feed...)
	_, err := w.eng.SyncSource(ctx, "mimecast")
	require.NoError(t, err)
	w.ns.SetReject(func(_ string, in ioc.Indicator) *cte.Rejected {
		if in.Value == feed[0].Value {
			return &cte.Rejected{Reason: "listed as clean"}
		}
		return nil
	})
	w.mc.Feed(engInd("mc-new", 0, ioc.SeverityHigh, engStart))
	rep, err := w.eng.SyncSource(ctx, "mimecast")
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Shares[0].Rejected)
	assert.NotContains(t, w.ns.Contents(hashListTarget.ID), feed[0].Value)
	le, ok := w.ledger(t, "mc-to-ns", feed[0].Value)
	require.True(t, ok)
	assert.Equal(t, sharing.StateRejected, le.State)
}

// TestRetryableThatAgesOutIsSettled: a value still waiting for a retry when it
// ages out is not left retryable for ever (the status would count it as waiting);
// it is recorded as retracted without asking the target, which never had it.
func TestRetryableThatAgesOutIsSettled(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	ctx := t.Context()
	ind := engInd("busy", 0, ioc.SeverityHigh, engStart)
	w.mc.SetReject(func(string, ioc.Indicator) *cte.Rejected { return &cte.Rejected{Reason: "busy", Retryable: true} })
	w.ns.Feed(ind)
	_, err := w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	le, ok := w.ledger(t, "ns-to-mc", ind.Value)
	require.True(t, ok)
	require.Equal(t, sharing.StateRetryable, le.State)

	w.clock.Advance(31 * 24 * time.Hour)
	_, err = w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	le, ok = w.ledger(t, "ns-to-mc", ind.Value)
	require.True(t, ok)
	assert.Equal(t, sharing.StateRetracted, le.State)
	assert.Empty(t, w.mc.Retractions(), "the target never had it")
	st, err := w.eng.Sharing(ctx)
	require.NoError(t, err)
	for _, s := range st {
		assert.Zero(t, s.Retryable, s.Name)
	}
}

// TestConcurrentUse runs syncs, shares, aging, plans, explanations and
// reconfiguration at once (run it with -race); afterwards one more cycle leaves
// every target exactly as the ledger says.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	ctx := t.Context()
	third := plugintest.NewFake()
	require.NoError(t, w.eng.AddPlugin("third", third, sharing.SourceSettings{}))
	require.NoError(t, w.eng.AddSharing(ctx, sharing.Config{Name: "third-to-mc", Source: "third", Rule: "malware",
		Destination: "mimecast", Target: blockTarget.ID}))
	require.NoError(t, w.eng.AddSharing(ctx, sharing.Config{Name: "third-to-ns", Source: "third", Rule: "hashes",
		Destination: "netskope", Target: hashListTarget.ID}))
	w.mc.Feed(engInds("mc", 40, ioc.SeverityHigh, engStart)...)
	w.ns.Feed(engInds("ns", 40, ioc.SeverityHigh, engStart)...)
	third.Feed(engInds("ns", 10, ioc.SeverityCritical, engStart)...) // also netskope's: never sent back to it
	third.Feed(engInds("third", 10, ioc.SeverityCritical, engStart)...)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() { _, _ = w.eng.SyncSource(ctx, "mimecast") })
		wg.Go(func() { _, _ = w.eng.SyncSource(ctx, "netskope") })
		wg.Go(func() { _, _ = w.eng.SyncSource(ctx, "third") })
		wg.Go(func() { _, _ = w.eng.Age(ctx) })
		wg.Go(func() { _, _ = w.eng.Plan(ctx, "mc-to-ns", 0) })
		wg.Go(func() { _, _ = w.eng.Explain(ctx, engHash("ns", i)) })
		wg.Go(func() { _, _ = w.eng.Sharing(ctx) })
		wg.Go(func() {
			_ = w.eng.AddRule(sharing.Rule{Name: "malware", Filter: "severity >= medium"})
		})
	}
	wg.Wait()
	for _, src := range []string{"mimecast", "netskope", "third"} {
		_, err := w.eng.SyncSource(ctx, src)
		require.NoError(t, err)
	}
	assert.Len(t, w.mc.Contents(blockTarget.ID), 50)
	assert.Len(t, w.ns.Contents(hashListTarget.ID), 50)
	st, err := w.eng.Sharing(ctx)
	require.NoError(t, err)
	for _, s := range st {
		assert.Zero(t, s.Retryable+s.Rejected+s.OverCapacity, s.Name)
	}
}

// afterScanStore runs hook once, after the first read transaction that scanned
// the records: a write that lands between a scan and the writes based on it.
type afterScanStore struct {
	sharing.Store
	mu   sync.Mutex
	skip int // scans to let pass first
	hook func()
}

type scanTx struct {
	sharing.Tx
	scanned *bool
}

func (t scanTx) Records(fn func(r *sharing.Record) error) error {
	*t.scanned = true
	return t.Tx.Records(fn)
}

func (s *afterScanStore) View(ctx context.Context, fn func(sharing.Tx) error) error {
	scanned := false
	err := s.Store.View(ctx, func(tx sharing.Tx) error { return fn(scanTx{tx, &scanned}) })
	s.mu.Lock()
	var hook func()
	switch {
	case scanned && s.skip > 0:
		s.skip--
	case scanned:
		hook, s.hook = s.hook, nil
	}
	s.mu.Unlock()
	if scanned && hook != nil {
		hook()
	}
	return err
}

// TestAgingDoesNotDeactivateAFreshReport: a report stored between the aging
// scan and its write (a pull running meanwhile) keeps the indicator active.
func TestAgingDoesNotDeactivateAFreshReport(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	ctx := t.Context()
	st := &afterScanStore{Store: w.store}
	w.eng = w.newEngine(t, st)
	ind := engInd("fresh", 0, ioc.SeverityHigh, engStart)
	w.ns.Feed(ind)
	_, err := w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)

	w.clock.Advance(31 * 24 * time.Hour)
	st.skip = 0 // Age scans netskope only: mimecast stored nothing, nothing to age
	st.hook = func() {
		again := ind
		again.LastSeen = w.clock.Now()
		require.NoError(t, w.store.Update(ctx, func(tx sharing.Tx) error {
			_, err := tx.Merge("netskope", []ioc.Indicator{again}, w.clock.Now())
			return err
		}))
	}
	rep, err := w.eng.Age(ctx)
	require.NoError(t, err)
	assert.Zero(t, rep.Inactive["netskope"])
	assert.Zero(t, rep.Retracted)
	assert.Equal(t, []string{ind.Value}, w.mc.Contents(blockTarget.ID))
	ex, err := w.eng.Explain(ctx, ind.Value)
	require.NoError(t, err)
	require.Len(t, ex.Sources, 1)
	assert.True(t, ex.Sources[0].Active, ex.Sources[0].Why)
}

// TestRateLimitedUpdateWaits: an update of an applied indicator that a
// rate-limited push did not deliver waits as long as the product asked, like a
// new one (the ledger keeps the wait, so it holds across a restart).
func TestRateLimitedUpdateWaits(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	ctx := t.Context()
	ind := engInd("upd", 0, ioc.SeverityHigh, engStart)
	w.ns.Feed(ind)
	_, err := w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	fp := &failingPlugin{Fake: w.mc, failAt: 1, err: fmt.Errorf("push: %w", &cte.RateLimitError{Wait: 30 * time.Minute, Reason: "HTTP 429"})}
	require.NoError(t, w.eng.AddPlugin("mimecast", fp, sharing.SourceSettings{}))
	changed := ind
	changed.Comments = "new comment"
	w.ns.Feed(changed)
	_, err = w.eng.SyncSource(ctx, "netskope")
	require.ErrorIs(t, err, cte.ErrRateLimited)
	le, ok := w.ledger(t, "ns-to-mc", ind.Value)
	require.True(t, ok)
	assert.Equal(t, sharing.StateApplied, le.State, "the old version is still on the target")
	assert.Equal(t, engStart.Add(30*time.Minute), le.NextAttempt)
}
