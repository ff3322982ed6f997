package sharing_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"path/filepath"
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
	"github.com/ctexchange/cte/sharing/store/boltstore"
	"github.com/ctexchange/cte/sharing/store/memstore"
)

// engStart is the wall-clock start of every engine test.
var engStart = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

// engClock is a settable clock.
type engClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *engClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *engClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// engHash returns a distinct, normalised sha256 value.
func engHash(seed string, i int) string {
	s := sha256.Sum256(fmt.Appendf(nil, "%s-%d", seed, i))
	return hex.EncodeToString(s[:])
}

// engInd returns a sha256 indicator seen at seen.
func engInd(seed string, i int, sev ioc.Severity, seen time.Time) ioc.Indicator {
	return ioc.Indicator{Type: ioc.TypeSHA256, Value: engHash(seed, i), Severity: sev, LastSeen: seen, FirstSeen: seen}
}

func engInds(seed string, n int, sev ioc.Severity, seen time.Time) []ioc.Indicator {
	out := make([]ioc.Indicator, n)
	for i := range out {
		out[i] = engInd(seed, i, sev, seen)
	}
	return out
}

func engValues(in []ioc.Indicator) []string {
	out := make([]string, len(in))
	for i, x := range in {
		out[i] = x.Value
	}
	return out
}

// Targets shaped like the two products of the seed workflow.
var (
	blockTarget = cte.Target{ID: "operation/BLOCK", Label: "Block", Mode: cte.Append,
		Types: []ioc.Type{ioc.TypeSHA256, ioc.TypeMD5}, Limits: cte.Limits{BatchSize: 4}}
	hashListTarget = cte.Target{ID: "file-hash-list/CE_Malware_Hashes", Label: "CE hashes", Mode: cte.Replace,
		Types: []ioc.Type{ioc.TypeSHA256, ioc.TypeMD5}, Limits: cte.Limits{MaxItems: 1000}}
	urlListTarget = cte.Target{ID: "url-list/255", Mode: cte.Append, Types: []ioc.Type{ioc.TypeURL, ioc.TypeDomain}}
)

// engWorld is an engine with a Mimecast-like and a Netskope-like fake.
type engWorld struct {
	store *memstore.Store
	eng   *sharing.Engine
	clock *engClock
	mc    *plugintest.Fake // Mimecast-like: feed in, BLOCK operation out
	ns    *plugintest.Fake // Netskope-like: alerts in, file hash list out
	logs  *bytes.Buffer
}

func newEngWorld(t *testing.T, opts ...sharing.Option) *engWorld {
	t.Helper()
	w := &engWorld{store: memstore.New(), clock: &engClock{now: engStart}, logs: &bytes.Buffer{},
		mc: plugintest.NewFake(blockTarget), ns: plugintest.NewFake(hashListTarget, urlListTarget)}
	t.Cleanup(func() { _ = w.store.Close() })
	w.eng = w.newEngine(t, w.store, opts...)
	return w
}

// newEngine returns an engine over s with both fakes, the rules and the seed
// sharing configurations: mimecast → netskope hash list, netskope → mimecast BLOCK.
func (w *engWorld) newEngine(t *testing.T, s sharing.Store, opts ...sharing.Option) *sharing.Engine {
	t.Helper()
	lg := slog.New(slog.NewTextHandler(&lockedWriter{w: w.logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	eng, err := sharing.New(s, append([]sharing.Option{sharing.WithClock(w.clock.Now), sharing.WithLogger(lg)}, opts...)...)
	require.NoError(t, err)
	require.NoError(t, eng.AddPlugin("mimecast", w.mc, sharing.SourceSettings{SyncInterval: 10 * time.Minute}))
	require.NoError(t, eng.AddPlugin("netskope", w.ns, sharing.SourceSettings{SyncInterval: time.Hour, Aging: 30 * 24 * time.Hour}))
	require.NoError(t, eng.AddRule(sharing.Rule{Name: "hashes", Filter: "type in (sha256, md5)",
		Exceptions: []sharing.Exception{{Name: "benign", Tags: []string{"BENIGN"}}}}))
	require.NoError(t, eng.AddRule(sharing.Rule{Name: "malware", Filter: "severity >= medium"}))
	ctx := t.Context()
	require.NoError(t, eng.AddSharing(ctx, sharing.Config{Name: "mc-to-ns", Source: "mimecast", Rule: "hashes",
		Destination: "netskope", Target: hashListTarget.ID}))
	require.NoError(t, eng.AddSharing(ctx, sharing.Config{Name: "ns-to-mc", Source: "netskope", Rule: "malware",
		Destination: "mimecast", Target: blockTarget.ID}))
	return eng
}

// addTinyList adds a Replace target of two values ("tiny") and the
// configuration sharing the Mimecast hashes to it ("mc-to-tiny").
func (w *engWorld) addTinyList(t *testing.T) {
	t.Helper()
	tiny := cte.Target{ID: "file-hash-list/tiny", Mode: cte.Replace, Types: []ioc.Type{ioc.TypeSHA256}, Limits: cte.Limits{MaxItems: 2}}
	require.NoError(t, w.eng.AddPlugin("tiny", plugintest.NewFake(tiny), sharing.SourceSettings{}))
	require.NoError(t, w.eng.AddSharing(t.Context(), sharing.Config{Name: "mc-to-tiny", Source: "mimecast", Rule: "hashes",
		Destination: "tiny", Target: tiny.ID}))
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (w *engWorld) ledger(t *testing.T, config, value string) (sharing.LedgerEntry, bool) {
	t.Helper()
	var le sharing.LedgerEntry
	var ok bool
	require.NoError(t, w.store.View(t.Context(), func(tx sharing.Tx) error {
		var err error
		le, ok, err = tx.Ledger(config, value)
		return err
	}))
	return le, ok
}

func pushedValues(calls []plugintest.Call) int {
	n := 0
	for _, c := range calls {
		n += len(c.Indicators)
	}
	return n
}

func findLogs(t *testing.T, eng *sharing.Engine, config string, level slog.Level) []sharing.AuditEntry {
	t.Helper()
	all, err := eng.Logs(t.Context(), sharing.LogFilter{Config: config, MinLevel: level})
	require.NoError(t, err)
	return all
}

// TestSeedWorkflow is the deployment the module replaces: a Mimecast feed shared to
// a Netskope file hash list, Netskope alerts shared to a Mimecast BLOCK operation,
// a second cycle that sends nothing new, re-reports that send nothing, and aging
// that retracts.
func TestSeedWorkflow(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	ctx := t.Context()
	mcFeed := engInds("mc", 6, ioc.SeverityHigh, engStart.Add(-time.Hour))
	mcFeed = append(mcFeed, ioc.Indicator{Type: ioc.TypeSHA256, Value: ioc.EmptySHA256, Severity: ioc.SeverityHigh, LastSeen: engStart})
	mcFeed = append(mcFeed, ioc.Indicator{Type: ioc.TypeSHA256, Value: "NOT-A-HASH", LastSeen: engStart})
	benign := engInd("benign", 0, ioc.SeverityHigh, engStart)
	benign.Tags = []string{"BENIGN"}
	mcFeed = append(mcFeed, benign)
	w.mc.Feed(mcFeed...)
	nsFeed := engInds("ns", 5, ioc.SeverityHigh, engStart.Add(-time.Hour))
	nsFeed = append(nsFeed, engInd("ns-low", 0, ioc.SeverityLow, engStart)) // the rule wants medium or more
	w.ns.Feed(nsFeed...)
	w.ns.SetPageSize(2)

	rep, err := w.eng.SyncSource(ctx, "mimecast")
	require.NoError(t, err)
	assert.Equal(t, 8, rep.Indicators)
	assert.Equal(t, 1, rep.Invalid, "the malformed value is counted, not stored")
	require.Len(t, rep.Shares, 1)
	assert.Equal(t, 6, rep.Shares[0].Applied)
	assert.True(t, rep.Shares[0].Pushed)
	assert.ElementsMatch(t, engValues(mcFeed[:6]), w.ns.Contents(hashListTarget.ID),
		"the list holds the feed without the empty-file hash, the invalid value and the BENIGN exception")

	rep, err = w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	assert.Equal(t, 3, rep.Pages)
	require.Len(t, rep.Shares, 1)
	assert.Equal(t, 5, rep.Shares[0].Applied)
	assert.ElementsMatch(t, engValues(nsFeed[:5]), w.mc.Contents(blockTarget.ID))
	require.Len(t, w.mc.Pushes(), 2, "5 indicators in batches of 4")

	// Second cycle: nothing new, nothing sent.
	w.clock.Advance(10 * time.Minute)
	mcPushes, nsPushes := len(w.mc.Pushes()), len(w.ns.Pushes())
	rep, err = w.eng.SyncSource(ctx, "mimecast")
	require.NoError(t, err)
	assert.False(t, rep.Shares[0].Pushed)
	assert.Equal(t, 6, rep.Shares[0].Unchanged)
	_, err = w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	assert.Len(t, w.mc.Pushes(), mcPushes)
	assert.Len(t, w.ns.Pushes(), nsPushes)

	// Re-reports with a later lastSeen change nothing that is sent.
	again := engInds("ns", 5, ioc.SeverityHigh, w.clock.Now())
	w.ns.Feed(again...)
	rep, err = w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	assert.Equal(t, 5, rep.Updated)
	assert.Equal(t, 5, rep.Shares[0].Unchanged)
	assert.Len(t, w.mc.Pushes(), mcPushes, "a re-report must not be pushed again")

	// A changed indicator is sent again.
	changed := engInd("ns", 0, ioc.SeverityCritical, w.clock.Now())
	w.ns.Feed(changed)
	rep, err = w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Shares[0].Applied)
	require.Len(t, w.mc.Pushes(), mcPushes+1)
	assert.Equal(t, []string{changed.Value}, engValues(w.mc.Pushes()[mcPushes].Indicators))

	// Aging: netskope ages after 30 days; mimecast after the default 90.
	w.clock.Advance(31 * 24 * time.Hour)
	age, err := w.eng.Age(ctx)
	require.NoError(t, err)
	assert.Equal(t, 6, age.Inactive["netskope"], "five high and the low one")
	assert.Equal(t, 0, age.Inactive["mimecast"])
	assert.Equal(t, 5, age.Retracted)
	assert.Empty(t, w.mc.Contents(blockTarget.ID), "aged indicators are retracted from the BLOCK operation")
	le, ok := w.ledger(t, "ns-to-mc", nsFeed[1].Value)
	require.True(t, ok)
	assert.Equal(t, sharing.StateRetracted, le.State)
	// A second pass has nothing left to retract.
	age, err = w.eng.Age(ctx)
	require.NoError(t, err)
	assert.Zero(t, age.Retracted)
	assert.Len(t, w.mc.Retractions(), 2, "5 retractions in batches of 4")

	// Mimecast's entries age out at 90 days; the Replace list drops them on its next push.
	w.clock.Advance(60 * 24 * time.Hour)
	rep, err = w.eng.SyncSource(ctx, "mimecast")
	require.NoError(t, err)
	assert.Equal(t, 8, rep.Inactive)
	assert.True(t, rep.Shares[0].Pushed)
	assert.Equal(t, 6, rep.Shares[0].Retracted)
	assert.Empty(t, w.ns.Contents(hashListTarget.ID))
	le, ok = w.ledger(t, "mc-to-ns", mcFeed[0].Value)
	require.True(t, ok)
	assert.Equal(t, sharing.StateRetracted, le.State)

	// The audit log has the pulls, shares and retractions, in the store and in slog.
	entries := findLogs(t, w.eng, "", slog.LevelDebug)
	require.NotEmpty(t, entries)
	var pulled, shared, retracted bool
	for _, e := range entries {
		switch {
		case e.Config == "mimecast" && e.Details["invalid"] == "1":
			pulled = true
			assert.Equal(t, slog.LevelWarn, e.Level)
			assert.NotEmpty(t, e.Resolution)
		case e.Config == "mc-to-ns" && e.Details["applied"] == "6":
			shared = true
		case e.Config == "ns-to-mc" && e.Details["retracted"] == "5" && e.Message != "":
			retracted = true
		}
	}
	assert.True(t, pulled, "pull with an invalid value audited")
	assert.True(t, shared, "share audited")
	assert.True(t, retracted, "retraction audited")
	assert.Contains(t, w.logs.String(), "pulled 8 indicator(s)")

	st, err := w.eng.Sharing(ctx)
	require.NoError(t, err)
	require.Len(t, st, 2)
	assert.Equal(t, "mc-to-ns", st[0].Name)
	assert.Equal(t, cte.Replace, st[0].Mode)
	assert.Equal(t, 6, st[0].Retracted)
	assert.Equal(t, "ns-to-mc", st[1].Name)
	assert.Equal(t, 5, st[1].Retracted)
	assert.False(t, st[1].LastOK.IsZero())
}

// TestNewSharingSharesExisting checks that a configuration added after the
// indicators were pulled shares them on its first run.
func TestNewSharingSharesExisting(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	ctx := t.Context()
	w.mc.Feed(engInds("mc", 3, ioc.SeverityLow, engStart)...)
	_, err := w.eng.SyncSource(ctx, "mimecast")
	require.NoError(t, err)
	other := plugintest.NewFake(blockTarget)
	require.NoError(t, w.eng.AddPlugin("other", other, sharing.SourceSettings{}))
	require.NoError(t, w.eng.AddSharing(ctx, sharing.Config{Name: "mc-to-other", Source: "mimecast", Rule: "hashes",
		Destination: "other", Target: blockTarget.ID}))
	rep, err := w.eng.Share(ctx, "mc-to-other")
	require.NoError(t, err)
	assert.Equal(t, 3, rep.Applied)
	assert.Len(t, other.Contents(blockTarget.ID), 3)
}

func TestPartialFailureConverges(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	ctx := t.Context()
	feed := engInds("ns", 8, ioc.SeverityHigh, engStart)
	w.ns.Feed(feed...)
	permanent, transient := feed[1].Value, feed[2].Value
	flaky := true
	w.mc.SetReject(func(target string, ind ioc.Indicator) *cte.Rejected {
		switch {
		case ind.Value == permanent && ind.Severity == ioc.SeverityHigh:
			return &cte.Rejected{Reason: "hash is allow-listed", Code: "err_allowed"}
		case ind.Value == transient && flaky:
			return &cte.Rejected{Reason: "temporarily unavailable", Code: "err_busy", Retryable: true}
		}
		return nil
	})
	rep, err := w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	sr := rep.Shares[0]
	assert.Equal(t, 6, sr.Applied)
	assert.Equal(t, 1, sr.Rejected)
	assert.Equal(t, 1, sr.Retrying)
	assert.Equal(t, 1, sr.Reasons["hash is allow-listed"])
	le, ok := w.ledger(t, "ns-to-mc", permanent)
	require.True(t, ok)
	assert.Equal(t, sharing.StateRejected, le.State)
	assert.Equal(t, "err_allowed", le.Code)
	le, ok = w.ledger(t, "ns-to-mc", transient)
	require.True(t, ok)
	assert.Equal(t, sharing.StateRetryable, le.State)
	assert.Equal(t, 1, le.Attempts)
	assert.Equal(t, engStart.Add(time.Minute), le.NextAttempt)
	warn := findLogs(t, w.eng, "ns-to-mc", slog.LevelWarn)
	require.NotEmpty(t, warn, "rejections are reported")

	// Not due yet: nothing is sent.
	pushes := len(w.mc.Pushes())
	rep, err = w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Shares[0].Waiting)
	assert.Equal(t, 1, rep.Shares[0].Rejected)
	assert.Len(t, w.mc.Pushes(), pushes)

	// Still failing after the first delay: the delay doubles.
	w.clock.Advance(time.Minute)
	_, err = w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	le, _ = w.ledger(t, "ns-to-mc", transient)
	assert.Equal(t, 2, le.Attempts)
	assert.Equal(t, w.clock.Now().Add(2*time.Minute), le.NextAttempt)
	require.Len(t, w.mc.Pushes(), pushes+1)
	assert.Equal(t, []string{transient}, engValues(w.mc.Pushes()[pushes].Indicators), "the permanent rejection is not retried")

	// Next cycle: the product accepts it; everything but the permanent one converged.
	flaky = false
	w.clock.Advance(10 * time.Minute)
	rep, err = w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Shares[0].Applied)
	le, _ = w.ledger(t, "ns-to-mc", transient)
	assert.Equal(t, sharing.StateApplied, le.State)
	assert.Len(t, w.mc.Contents(blockTarget.ID), 7)

	// The permanently rejected indicator is sent again once it changes.
	w.ns.Feed(ioc.Indicator{Type: ioc.TypeSHA256, Value: permanent, Severity: ioc.SeverityCritical, LastSeen: w.clock.Now()})
	rep, err = w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Shares[0].Applied)
	assert.Len(t, w.mc.Contents(blockTarget.ID), 8)
}

// failingPlugin fails the push number failAt (1-based) with err, or calls
// during instead when set.
type failingPlugin struct {
	*plugintest.Fake
	mu     sync.Mutex
	calls  int
	failAt int
	err    error
	during func()
}

func (f *failingPlugin) Push(ctx context.Context, t cte.Target, in []ioc.Indicator) (cte.PushResult, error) {
	f.mu.Lock()
	f.calls++
	fail := f.calls == f.failAt
	f.mu.Unlock()
	if fail {
		if f.during != nil {
			f.during()
			return cte.PushResult{}, ctx.Err()
		}
		return cte.PushResult{}, f.err
	}
	return f.Fake.Push(ctx, t, in)
}

func TestPushErrorMidShare(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		err      error
		sentinel error
	}{
		{"quota", fmt.Errorf("mimecast: create batch: daily quota reached: %w", cte.ErrQuota), cte.ErrQuota},
		{"429", fmt.Errorf("mimecast: HTTP 429, wait 12m: %w", cte.ErrRateLimited), cte.ErrRateLimited},
		{"auth", fmt.Errorf("mimecast: key refused: %w", cte.ErrAuth), cte.ErrAuth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newEngWorld(t)
			ctx := t.Context()
			fp := &failingPlugin{Fake: w.mc, failAt: 2, err: tc.err}
			require.NoError(t, w.eng.AddPlugin("mimecast", fp, sharing.SourceSettings{}))
			feed := engInds("ns", 10, ioc.SeverityHigh, engStart) // batches of 4: 4, 4, 2
			w.ns.Feed(feed...)

			rep, err := w.eng.SyncSource(ctx, "netskope")
			require.ErrorIs(t, err, tc.sentinel)
			sr := rep.Shares[0]
			assert.Equal(t, 4, sr.Applied)
			assert.Equal(t, 6, sr.Retrying)
			assert.Len(t, w.mc.Contents(blockTarget.ID), 4)
			var attempted, unsent int
			for _, v := range engValues(feed) {
				le, ok := w.ledger(t, "ns-to-mc", v)
				require.True(t, ok, "nothing is dropped silently: %s", v)
				switch {
				case le.State == sharing.StateApplied:
				case le.State == sharing.StateRetryable && le.Attempts == 1:
					attempted++
				case le.State == sharing.StateRetryable && le.Attempts == 0:
					unsent++
				default:
					t.Errorf("%s: unexpected ledger entry %+v", v, le)
				}
			}
			assert.Equal(t, 4, attempted, "the failed batch")
			assert.Equal(t, 2, unsent, "the batch never sent")
			errs := findLogs(t, w.eng, "ns-to-mc", slog.LevelError)
			require.NotEmpty(t, errs)
			assert.Contains(t, errs[0].Message, tc.err.Error())
			assert.NotEmpty(t, errs[0].Resolution)
			st, err := w.eng.Sharing(ctx)
			require.NoError(t, err)
			assert.Contains(t, st[1].LastError, tc.err.Error())
			assert.Equal(t, 6, st[1].Retryable)

			// The next cycle after the delay sends the rest and only the rest.
			w.clock.Advance(10 * time.Minute)
			before := len(w.mc.Pushes())
			rep, err = w.eng.SyncSource(ctx, "netskope")
			require.NoError(t, err)
			assert.Equal(t, 6, rep.Shares[0].Applied)
			assert.Equal(t, 6, pushedValues(w.mc.Pushes()[before:]))
			assert.Len(t, w.mc.Contents(blockTarget.ID), 10)
			st, err = w.eng.Sharing(ctx)
			require.NoError(t, err)
			assert.Empty(t, st[1].LastError)
		})
	}
}

func TestReplacePushErrorKeepsAppliedSet(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	ctx := t.Context()
	w.mc.Feed(engInds("mc", 3, ioc.SeverityHigh, engStart)...)
	w.ns.FailNextPush(fmt.Errorf("netskope: 429: %w", cte.ErrRateLimited))
	rep, err := w.eng.SyncSource(ctx, "mimecast")
	require.ErrorIs(t, err, cte.ErrRateLimited)
	assert.False(t, rep.Shares[0].Pushed)
	assert.Empty(t, w.ns.Contents(hashListTarget.ID))
	rep, err = w.eng.SyncSource(ctx, "mimecast")
	require.NoError(t, err)
	assert.True(t, rep.Shares[0].Pushed)
	assert.Len(t, w.ns.Contents(hashListTarget.ID), 3)
}

// TestRestartMidShare stops the process in the middle of an Append share (the
// context is cancelled during the second batch) and starts a new engine over the
// same store: nothing is lost and the first batch is not sent again.
func TestRestartMidShare(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	ctx, cancel := context.WithCancel(t.Context())
	fp := &failingPlugin{Fake: w.mc, failAt: 2, during: cancel}
	require.NoError(t, w.eng.AddPlugin("mimecast", fp, sharing.SourceSettings{}))
	feed := engInds("ns", 10, ioc.SeverityHigh, engStart)
	w.ns.Feed(feed...)
	_, err := w.eng.SyncSource(ctx, "netskope")
	require.ErrorIs(t, err, context.Canceled)
	require.Len(t, w.mc.Contents(blockTarget.ID), 4)

	eng := w.newEngine(t, w.store) // the restarted process
	before := len(w.mc.Pushes())
	rep, err := eng.SyncSource(t.Context(), "netskope")
	require.NoError(t, err)
	assert.Equal(t, 6, rep.Shares[0].Applied)
	assert.Equal(t, 6, pushedValues(w.mc.Pushes()[before:]), "only what was not applied is sent")
	assert.ElementsMatch(t, engValues(feed), w.mc.Contents(blockTarget.ID))
}

func TestLoopPrevention(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	ctx := t.Context()
	both := engInd("both", 0, ioc.SeverityHigh, engStart)
	w.mc.Feed(both, engInd("mc", 0, ioc.SeverityHigh, engStart))
	w.ns.Feed(both, engInd("ns", 0, ioc.SeverityHigh, engStart))
	for range 2 { // two rounds of the bidirectional pair
		_, err := w.eng.SyncSource(ctx, "mimecast")
		require.NoError(t, err)
		_, err = w.eng.SyncSource(ctx, "netskope")
		require.NoError(t, err)
	}
	// Mimecast shared "both" first; Netskope then reported it too, so it is never
	// sent back to Mimecast, and the Netskope list, which may not hold what
	// Netskope itself reports, drops it.
	assert.Equal(t, []string{engHash("mc", 0)}, w.ns.Contents(hashListTarget.ID))
	assert.Equal(t, []string{engHash("ns", 0)}, w.mc.Contents(blockTarget.ID))
	for _, c := range w.mc.Pushes() {
		assert.NotContains(t, engValues(c.Indicators), both.Value, "never pushed back to a product it came from")
	}
	last := w.ns.Pushes()[len(w.ns.Pushes())-1]
	assert.NotContains(t, engValues(last.Indicators), both.Value)
	p, err := w.eng.Plan(ctx, "ns-to-mc", 0)
	require.NoError(t, err)
	assert.Equal(t, 1, p.Excluded["came from the destination"])
	ex, err := w.eng.Explain(ctx, both.Value)
	require.NoError(t, err)
	for _, d := range ex.Sharing {
		assert.False(t, d.Shared)
		assert.Contains(t, d.Why, "never pushed back")
	}
}

func TestGuardrail(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	ctx := t.Context()
	feed := engInds("mc", 30, ioc.SeverityHigh, engStart)
	w.mc.Feed(feed...)
	_, err := w.eng.SyncSource(ctx, "mimecast")
	require.NoError(t, err)
	require.Len(t, w.ns.Contents(hashListTarget.ID), 30)

	// A rule edit that would leave out 20 of the 30 applied values.
	var keep []string
	for _, v := range engValues(feed[:10]) {
		keep = append(keep, fmt.Sprintf("%q", v))
	}
	require.NoError(t, w.eng.AddRule(sharing.Rule{Name: "hashes", Filter: "value in (" + joinComma(keep) + ")"}))
	p, err := w.eng.Plan(ctx, "mc-to-ns", 0)
	require.NoError(t, err)
	assert.True(t, p.WouldPush)
	assert.True(t, p.Guardrail)
	assert.Equal(t, 20, p.ToRetract)

	pushes := len(w.ns.Pushes())
	_, err = w.eng.Share(ctx, "mc-to-ns")
	require.ErrorIs(t, err, sharing.ErrGuardrail)
	assert.Len(t, w.ns.Pushes(), pushes)
	assert.Len(t, w.ns.Contents(hashListTarget.ID), 30)
	var guard *sharing.AuditEntry
	for _, e := range findLogs(t, w.eng, "mc-to-ns", slog.LevelError) {
		if strings.Contains(e.Message, "guardrail") {
			guard = &e
		}
	}
	require.NotNil(t, guard, "the refusal is audited")
	assert.Contains(t, guard.Message, "remove 20 of the 30")
	assert.Contains(t, guard.Resolution, "force")

	rep, err := w.eng.Share(ctx, "mc-to-ns", sharing.WithForce())
	require.NoError(t, err)
	assert.True(t, rep.Pushed)
	assert.Equal(t, 20, rep.Retracted)
	assert.ElementsMatch(t, engValues(feed[:10]), w.ns.Contents(hashListTarget.ID))

	// Removing half or less passes: 10 applied is under the minimum list size anyway,
	// so a custom guardrail covers it.
	w2 := newEngWorld(t, sharing.WithGuardrail(0.1, 5))
	w2.mc.Feed(feed[:10]...)
	_, err = w2.eng.SyncSource(ctx, "mimecast")
	require.NoError(t, err)
	require.NoError(t, w2.eng.AddRule(sharing.Rule{Name: "hashes", Filter: "value in (" + joinComma(keep[:8]) + ")"}))
	_, err = w2.eng.Share(ctx, "mc-to-ns")
	require.ErrorIs(t, err, sharing.ErrGuardrail, "2 of 10 is more than 10%")
}

func joinComma(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(x)
	}
	return b.String()
}

func TestReplacePacking(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	ctx := t.Context()
	small := hashListTarget
	small.ID = "file-hash-list/small"
	small.Limits = cte.Limits{MaxItems: 3, MaxBytes: 5 * 65}
	w.ns = plugintest.NewFake(small)
	require.NoError(t, w.eng.AddPlugin("netskope", w.ns, sharing.SourceSettings{}))
	require.NoError(t, w.eng.AddSharing(ctx, sharing.Config{Name: "mc-to-ns", Source: "mimecast", Rule: "hashes",
		Destination: "netskope", Target: small.ID}))
	crit := engInd("crit", 0, ioc.SeverityCritical, engStart.Add(-48*time.Hour))
	newest := engInd("high-new", 0, ioc.SeverityHigh, engStart)
	older := engInd("high-old", 0, ioc.SeverityHigh, engStart.Add(-time.Hour))
	oldest := engInd("high-oldest", 0, ioc.SeverityHigh, engStart.Add(-2*time.Hour))
	low := engInd("low", 0, ioc.SeverityLow, engStart)
	w.mc.Feed(low, oldest, older, newest, crit)
	require.NoError(t, w.eng.AddRule(sharing.Rule{Name: "hashes", Filter: "type in (sha256, md5)", Muted: true}))
	_, err := w.eng.SyncSource(ctx, "mimecast")
	require.NoError(t, err)
	require.Empty(t, w.ns.Pushes())

	p, err := w.eng.Plan(ctx, "mc-to-ns", 0)
	require.NoError(t, err)
	assert.True(t, p.Muted)
	assert.True(t, p.WouldPush)
	assert.Equal(t, 5, p.Matched)
	assert.Equal(t, 3, p.New)
	assert.Equal(t, 2, p.OverCapacity)
	assert.Equal(t, int64(3*65), p.Bytes)
	assert.Equal(t, sharing.TypeCount{Count: 5, Bytes: 5 * 65}, p.ByType[ioc.TypeSHA256])

	require.NoError(t, w.eng.AddRule(sharing.Rule{Name: "hashes", Filter: "type in (sha256, md5)"}))
	rep, err := w.eng.Share(ctx, "mc-to-ns")
	require.NoError(t, err)
	assert.Equal(t, 3, rep.Applied)
	assert.Equal(t, 2, rep.OverCapacity)
	assert.ElementsMatch(t, []string{crit.Value, newest.Value, older.Value}, w.ns.Contents(small.ID),
		"severity first, then the most recently seen")
	// Never on the list: no ledger entry per value left out; the packing says it.
	_, ok := w.ledger(t, "mc-to-ns", low.Value)
	assert.False(t, ok, "no ledger entry for a value the list never held")
	st, err := w.eng.Sharing(ctx)
	require.NoError(t, err)
	for _, x := range st {
		if x.Name == "mc-to-ns" {
			assert.Equal(t, 2, x.OverCapacity, "the sharing table counts what does not fit")
		}
	}
	warn := findLogs(t, w.eng, "mc-to-ns", slog.LevelWarn)
	require.NotEmpty(t, warn)
	assert.Contains(t, warn[0].Message, "2 indicator(s) do not fit")
	assert.Contains(t, warn[0].Resolution, "raise")
	ex, err := w.eng.Explain(ctx, low.Value)
	require.NoError(t, err)
	assert.Contains(t, ex.Sharing[0].Why, "over capacity")

	// A byte limit: 2 values of 65 bytes fit in 130.
	small.Limits = cte.Limits{MaxBytes: 130}
	small.ID = "file-hash-list/bytes"
	w.ns = plugintest.NewFake(small)
	require.NoError(t, w.eng.AddPlugin("netskope", w.ns, sharing.SourceSettings{}))
	require.NoError(t, w.eng.AddSharing(ctx, sharing.Config{Name: "bytes", Source: "mimecast", Rule: "hashes",
		Destination: "netskope", Target: small.ID}))
	rep, err = w.eng.Share(ctx, "bytes")
	require.NoError(t, err)
	assert.Equal(t, 2, rep.Applied)
	assert.ElementsMatch(t, []string{crit.Value, newest.Value}, w.ns.Contents(small.ID))
}

func TestPlanHasNoSideEffects(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	ctx := t.Context()
	w.ns.Feed(engInds("ns", 5, ioc.SeverityHigh, engStart)...)
	w.ns.Feed(engInd("old", 0, ioc.SeverityHigh, engStart.Add(-24*time.Hour)))
	_, err := w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	w.clock.Advance(48 * time.Hour)
	w.ns.Feed(engInds("ns2", 3, ioc.SeverityHigh, w.clock.Now())...)
	// Store the new pull without sharing: pull then plan.
	w.mc.FailNextPush(fmt.Errorf("down: %w", cte.ErrQuota))
	_, err = w.eng.SyncSource(ctx, "netskope")
	require.ErrorIs(t, err, cte.ErrQuota)

	// The first Plan of a configuration whose target was never listed asks
	// the destination for it (and keeps it); list them all first.
	_, err = w.eng.CheckTarget(ctx, "mc-to-ns")
	require.NoError(t, err)
	logsBefore := findLogs(t, w.eng, "", slog.LevelDebug)
	stBefore, err := w.eng.Sharing(ctx)
	require.NoError(t, err)
	pushes := len(w.mc.Pushes())

	p, err := w.eng.Plan(ctx, "ns-to-mc", 0)
	require.NoError(t, err)
	assert.Equal(t, 9, p.Matched)
	assert.Equal(t, 6, p.Unchanged)
	assert.Equal(t, 3, p.Retry+p.New+p.Changed+p.Waiting)
	assert.Equal(t, sharing.TypeCount{Count: 9, Bytes: 9 * 65}, p.ByType[ioc.TypeSHA256])
	assert.LessOrEqual(t, len(p.Sample), 10)

	p, err = w.eng.Plan(ctx, "ns-to-mc", time.Hour)
	require.NoError(t, err)
	assert.Equal(t, 3, p.Matched, "only what was fetched in the window")

	_, err = w.eng.Plan(ctx, "mc-to-ns", 0)
	require.NoError(t, err)
	_, err = w.eng.Plan(ctx, "nope", 0)
	require.Error(t, err)

	assert.Equal(t, logsBefore, findLogs(t, w.eng, "", slog.LevelDebug))
	stAfter, err := w.eng.Sharing(ctx)
	require.NoError(t, err)
	assert.Equal(t, stBefore, stAfter)
	assert.Len(t, w.mc.Pushes(), pushes)
}

func TestExplain(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	ctx := t.Context()
	high := engInd("x", 0, ioc.SeverityHigh, engStart)
	low := engInd("x", 1, ioc.SeverityLow, engStart)
	benign := engInd("x", 2, ioc.SeverityHigh, engStart)
	benign.Tags = []string{"benign"}
	w.ns.Feed(high, low)
	w.mc.Feed(benign)
	_, err := w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	_, err = w.eng.SyncSource(ctx, "mimecast")
	require.NoError(t, err)

	ex, err := w.eng.Explain(ctx, "  "+toUpper(high.Value)+" ")
	require.NoError(t, err)
	assert.True(t, ex.Found)
	assert.Equal(t, high.Value, ex.Value, "the value is normalised")
	assert.Equal(t, ioc.TypeSHA256, ex.Type)
	require.Len(t, ex.Sources, 1)
	assert.Equal(t, "netskope", ex.Sources[0].Source)
	assert.True(t, ex.Sources[0].Active)
	require.Len(t, ex.Sharing, 2)
	assert.Equal(t, "mc-to-ns", ex.Sharing[0].Config)
	assert.False(t, ex.Sharing[0].Shared)
	assert.Contains(t, ex.Sharing[0].Why, `not reported by source "mimecast"`)
	assert.True(t, ex.Sharing[1].Shared)
	assert.Contains(t, ex.Sharing[1].Why, "severity")
	require.NotNil(t, ex.Sharing[1].Ledger)
	assert.Equal(t, sharing.StateApplied, ex.Sharing[1].Ledger.State)

	ex, err = w.eng.Explain(ctx, low.Value)
	require.NoError(t, err)
	assert.False(t, ex.Sharing[1].Shared)
	assert.Contains(t, ex.Sharing[1].Why, "filter did not match")
	assert.Nil(t, ex.Sharing[1].Ledger)

	ex, err = w.eng.Explain(ctx, benign.Value)
	require.NoError(t, err)
	assert.False(t, ex.Sharing[0].Shared)
	assert.Contains(t, ex.Sharing[0].Why, `exception "benign"`)

	ex, err = w.eng.Explain(ctx, "never-seen.example.com")
	require.NoError(t, err)
	assert.False(t, ex.Found)
	assert.Empty(t, ex.Sharing)

	w.clock.Advance(31 * 24 * time.Hour)
	ex, err = w.eng.Explain(ctx, high.Value)
	require.NoError(t, err)
	assert.False(t, ex.Sources[0].Active)
	assert.Contains(t, ex.Sources[0].Why, "aging period")
	assert.Contains(t, ex.Sharing[1].Why, "inactive")
}

func toUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

func TestMutedRule(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	ctx := t.Context()
	require.NoError(t, w.eng.AddRule(sharing.Rule{Name: "malware", Filter: "severity >= medium", Muted: true}))
	w.ns.Feed(engInds("ns", 3, ioc.SeverityHigh, engStart)...)
	rep, err := w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	assert.True(t, rep.Shares[0].Muted)
	assert.Empty(t, w.mc.Pushes())
	logs := findLogs(t, w.eng, "ns-to-mc", slog.LevelInfo)
	require.NotEmpty(t, logs)
	assert.Contains(t, logs[len(logs)-1].Message, "muted")
	p, err := w.eng.Plan(ctx, "ns-to-mc", 0)
	require.NoError(t, err)
	assert.True(t, p.Muted)
	assert.Equal(t, 3, p.New)

	require.NoError(t, w.eng.AddRule(sharing.Rule{Name: "malware", Filter: "severity >= medium"}))
	sr, err := w.eng.Share(ctx, "ns-to-mc")
	require.NoError(t, err)
	assert.Equal(t, 3, sr.Applied)
}

func TestAddSharingValidation(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	ctx := t.Context()
	pullOnly := plugintest.NewFake()
	require.NoError(t, w.eng.AddPlugin("pull-only", pullOnly, sharing.SourceSettings{}))
	require.NoError(t, w.eng.AddPlugin("push-only", plugintest.NewFake(blockTarget), sharing.SourceSettings{PushOnly: true}))
	require.NoError(t, w.eng.AddRule(sharing.Rule{Name: "urls", Filter: "type == url"}))
	broken := plugintest.NewFake(blockTarget)
	broken.SetBadAuth(true)
	require.NoError(t, w.eng.AddPlugin("broken", broken, sharing.SourceSettings{}))
	ok := sharing.Config{Name: "c", Source: "mimecast", Rule: "hashes", Destination: "netskope", Target: hashListTarget.ID}
	for _, tc := range []struct {
		name string
		edit func(c *sharing.Config)
		want string
	}{
		{"empty name", func(c *sharing.Config) { c.Name = "" }, "name is empty"},
		{"empty target", func(c *sharing.Config) { c.Target = " " }, "target is empty"},
		{"unknown source", func(c *sharing.Config) { c.Source = "nope" }, `source "nope" is not a configured plugin`},
		{"source cannot pull", func(c *sharing.Config) { c.Source = "push-only" }, `source "push-only" cannot pull`},
		{"unknown destination", func(c *sharing.Config) { c.Destination = "nope" }, `destination "nope" is not a configured plugin`},
		{"unknown rule", func(c *sharing.Config) { c.Rule = "nope" }, `rule "nope" is not defined`},
		{"to itself", func(c *sharing.Config) { c.Destination = "mimecast"; c.Target = blockTarget.ID }, "both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			err := w.eng.AddSharing(ctx, c)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	// The target is checked when the configuration first shares, or by
	// CheckTarget: AddSharing does no I/O, so it works with the products offline.
	for _, tc := range []struct {
		name string
		edit func(c *sharing.Config)
		want string
	}{
		{"destination cannot push", func(c *sharing.Config) { c.Destination = "pull-only" }, `destination "pull-only" cannot push`},
		{"destination unreachable", func(c *sharing.Config) { c.Destination = "broken" }, `destination "broken": list targets`},
		{"unknown target", func(c *sharing.Config) { c.Target = "list/x" }, `target "list/x" is not a target of destination "netskope": choose one of file-hash-list/CE_Malware_Hashes, url-list/255`},
		{"rule cannot match target types", func(c *sharing.Config) { c.Rule = "urls" }, `rule "urls" can only match url, and target "file-hash-list/CE_Malware_Hashes" accepts sha256, md5`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			c.Name = "c-" + strings.ReplaceAll(tc.name, " ", "-")
			tc.edit(&c)
			require.NoError(t, w.eng.AddSharing(ctx, c))
			_, err := w.eng.CheckTarget(ctx, c.Name)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			_, err = w.eng.Share(ctx, c.Name)
			require.ErrorContains(t, err, tc.want, "the share fails the same way, and is audited")
			assert.NotEmpty(t, findLogs(t, w.eng, c.Name, slog.LevelError))
		})
	}
	_, err := w.eng.CheckTarget(ctx, "nope")
	require.ErrorContains(t, err, `"nope" is not defined`)
	ok.Name = "mc-to-ns" // replaces the existing configuration of that list
	require.NoError(t, w.eng.AddSharing(ctx, ok))
	tg, err := w.eng.CheckTarget(ctx, "mc-to-ns")
	require.NoError(t, err)
	assert.Equal(t, hashListTarget, tg)
	ts, err := w.eng.Targets(ctx, "netskope")
	require.NoError(t, err)
	assert.Len(t, ts, 2)
	_, err = w.eng.Targets(ctx, "nope")
	require.Error(t, err)
}

func TestEngineInputErrors(t *testing.T) {
	t.Parallel()
	_, err := sharing.New(nil)
	require.Error(t, err)
	w := newEngWorld(t)
	ctx := t.Context()
	require.Error(t, w.eng.AddPlugin("", w.mc, sharing.SourceSettings{}))
	require.Error(t, w.eng.AddPlugin("x", nil, sharing.SourceSettings{}))
	require.Error(t, w.eng.AddPlugin("x", w.mc, sharing.SourceSettings{Aging: -time.Hour}))
	require.Error(t, w.eng.AddRule(sharing.Rule{}))
	err = w.eng.AddRule(sharing.Rule{Name: "bad", Filter: "severity > 5"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "column")
	_, err = w.eng.Share(ctx, "nope")
	require.ErrorContains(t, err, `"nope" is not defined`)
	_, err = w.eng.SyncSource(ctx, "nope")
	require.Error(t, err)
	require.NoError(t, w.eng.AddPlugin("dest", plugintest.NewFake(blockTarget), sharing.SourceSettings{PushOnly: true}))
	_, err = w.eng.SyncSource(ctx, "dest")
	require.ErrorContains(t, err, "only receives indicators")
	require.ErrorIs(t, err, sharing.ErrInvalid, "bad input, not a failed pull")
	_, err = w.eng.Indicators(ctx, "severity >", 0)
	require.ErrorContains(t, err, "column")
}

func TestPullErrorKeepsStoredPages(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	ctx := t.Context()
	w.ns.SetPageSize(2)
	feed := engInds("ns", 5, ioc.SeverityHigh, engStart)
	w.ns.Feed(feed...)
	w.ns.FailNextPull(fmt.Errorf("netskope: 429: %w", cte.ErrRateLimited))
	rep, err := w.eng.SyncSource(ctx, "netskope")
	require.ErrorIs(t, err, cte.ErrRateLimited)
	assert.Equal(t, 1, rep.Pages)
	assert.Equal(t, 2, rep.Shares[0].Applied, "the stored page is still shared")
	errs := findLogs(t, w.eng, "netskope", slog.LevelError)
	require.Len(t, errs, 1)
	assert.Contains(t, errs[0].Resolution, "resumes after the last stored page")

	rep, err = w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	assert.Equal(t, 3, rep.Indicators, "resumed from the stored checkpoint")
	assert.ElementsMatch(t, engValues(feed), w.mc.Contents(blockTarget.ID))
}

func TestIndicators(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	ctx := t.Context()
	w.ns.Feed(engInds("ns", 5, ioc.SeverityHigh, engStart)...)
	w.ns.Feed(engInds("low", 3, ioc.SeverityLow, engStart)...)
	_, err := w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	all, err := w.eng.Indicators(ctx, "", 0)
	require.NoError(t, err)
	assert.Len(t, all, 8)
	lows, err := w.eng.Indicators(ctx, "severity == low", 0)
	require.NoError(t, err)
	assert.Len(t, lows, 3)
	two, err := w.eng.Indicators(ctx, "source == netskope", 2)
	require.NoError(t, err)
	require.Len(t, two, 2)
	assert.Less(t, two[0].Value, two[1].Value)
	assert.Equal(t, "netskope", two[0].Entries[0].Source)
}

// TestRestartMidShareBolt stops the engine in the middle of an Append share,
// closes the bbolt file and reopens it in a new engine: nothing applied is sent
// again, nothing unsent is lost, and the pull resumes from the stored checkpoint.
func TestRestartMidShareBolt(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "cte.db")
	db, err := boltstore.Open(path)
	require.NoError(t, err)
	w := newEngWorld(t)
	eng := w.newEngine(t, db)
	ctx, cancel := context.WithCancel(t.Context())
	fp := &failingPlugin{Fake: w.mc, failAt: 2, during: cancel}
	require.NoError(t, eng.AddPlugin("mimecast", fp, sharing.SourceSettings{}))
	w.ns.SetPageSize(4)
	feed := engInds("ns", 10, ioc.SeverityHigh, engStart)
	w.ns.Feed(feed...)
	_, err = eng.SyncSource(ctx, "netskope")
	require.ErrorIs(t, err, context.Canceled)
	require.Len(t, w.mc.Contents(blockTarget.ID), 4)
	require.NoError(t, db.Close())

	db, err = boltstore.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	eng = w.newEngine(t, db)
	w.ns.Feed(engInd("later", 0, ioc.SeverityHigh, engStart))
	before := len(w.mc.Pushes())
	rep, err := eng.SyncSource(t.Context(), "netskope")
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Indicators, "the pull resumes after the stored pages")
	assert.Equal(t, 7, rep.Shares[0].Applied)
	assert.Equal(t, 7, pushedValues(w.mc.Pushes()[before:]), "only what was not applied is sent")
	assert.ElementsMatch(t, append(engValues(feed), engHash("later", 0)), w.mc.Contents(blockTarget.ID))
}

// TestSharedAppendTargetRetraction: two sources share to one BLOCK operation; when
// one source's copy of a value ages out while the other still reports it, the
// value stays on the target.
func TestSharedAppendTargetRetraction(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	ctx := t.Context()
	third := plugintest.NewFake()
	require.NoError(t, w.eng.AddPlugin("third", third, sharing.SourceSettings{Aging: 365 * 24 * time.Hour}))
	require.NoError(t, w.eng.AddSharing(ctx, sharing.Config{Name: "third-to-mc", Source: "third", Rule: "malware",
		Destination: "mimecast", Target: blockTarget.ID}))
	both := engInd("both", 0, ioc.SeverityHigh, engStart)
	only := engInd("only", 0, ioc.SeverityHigh, engStart)
	w.ns.Feed(both, only)
	third.Feed(both)
	_, err := w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	_, err = w.eng.SyncSource(ctx, "third")
	require.NoError(t, err)
	require.ElementsMatch(t, []string{both.Value, only.Value}, w.mc.Contents(blockTarget.ID))

	w.clock.Advance(31 * 24 * time.Hour) // netskope's 30 days, not third's year
	_, err = w.eng.Age(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{both.Value}, w.mc.Contents(blockTarget.ID), "third still shares it")
	le, ok := w.ledger(t, "ns-to-mc", both.Value)
	require.True(t, ok)
	assert.Equal(t, sharing.StateRetracted, le.State)
	assert.Contains(t, le.Reason, `"third-to-mc" still shares it`)
	for _, c := range w.mc.Retractions() {
		assert.NotContains(t, engValues(c.Indicators), both.Value)
	}
}

// TestReplaceTargetUnion: two sources feed one hash list; the list holds the
// union, packed together, each push carries both, and each configuration's
// ledger and lifecycle stay its own.
func TestReplaceTargetUnion(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	ctx := t.Context()
	third := plugintest.NewFake()
	require.NoError(t, w.eng.AddPlugin("third", third, sharing.SourceSettings{Aging: 365 * 24 * time.Hour}))
	require.NoError(t, w.eng.AddSharing(ctx, sharing.Config{Name: "third-to-ns", Source: "third", Rule: "malware",
		Destination: "netskope", Target: hashListTarget.ID}))
	both := engInd("both", 0, ioc.SeverityHigh, engStart)
	mcOnly := engInd("mc", 0, ioc.SeverityHigh, engStart)
	thirdOnly := engInd("third", 0, ioc.SeverityHigh, engStart)
	w.mc.Feed(both, mcOnly)
	third.Feed(both, thirdOnly)

	rep, err := w.eng.SyncSource(ctx, "mimecast")
	require.NoError(t, err)
	assert.Equal(t, 2, rep.Shares[0].Applied)
	rep, err = w.eng.SyncSource(ctx, "third")
	require.NoError(t, err)
	sr := rep.Shares[0]
	assert.True(t, sr.Pushed)
	assert.Equal(t, 2, sr.Applied, "applied for this configuration, although both was on the list")
	assert.ElementsMatch(t, []string{both.Value, mcOnly.Value, thirdOnly.Value}, w.ns.Contents(hashListTarget.ID),
		"the second configuration's push keeps the first one's values")

	// Nothing changed: neither configuration pushes.
	pushes := len(w.ns.Pushes())
	for _, src := range []string{"mimecast", "third"} {
		rep, err = w.eng.SyncSource(ctx, src)
		require.NoError(t, err)
		assert.False(t, rep.Shares[0].Pushed, src)
	}
	assert.Len(t, w.ns.Pushes(), pushes)
	p, err := w.eng.Plan(ctx, "mc-to-ns", 0)
	require.NoError(t, err)
	assert.False(t, p.WouldPush)
	assert.Equal(t, int64(3*65), p.Bytes)

	// Mimecast's copies age out (90 days); third's do not: only mcOnly leaves the list.
	w.clock.Advance(91 * 24 * time.Hour)
	rep, err = w.eng.SyncSource(ctx, "mimecast")
	require.NoError(t, err)
	assert.True(t, rep.Shares[0].Pushed)
	assert.Equal(t, 2, rep.Shares[0].Retracted, "both are withdrawn by mc-to-ns")
	assert.ElementsMatch(t, []string{both.Value, thirdOnly.Value}, w.ns.Contents(hashListTarget.ID))
	le, ok := w.ledger(t, "third-to-ns", both.Value)
	require.True(t, ok)
	assert.Equal(t, sharing.StateApplied, le.State)
	le, ok = w.ledger(t, "mc-to-ns", both.Value)
	require.True(t, ok)
	assert.Equal(t, sharing.StateRetracted, le.State)

	// A muted member keeps its values on the list but adds nothing new.
	require.NoError(t, w.eng.AddRule(sharing.Rule{Name: "malware", Filter: "severity >= medium", Muted: true}))
	third.Feed(engInd("third", 1, ioc.SeverityHigh, w.clock.Now()))
	w.mc.Feed(engInd("mc", 1, ioc.SeverityHigh, w.clock.Now()))
	_, err = w.eng.SyncSource(ctx, "third")
	require.NoError(t, err)
	_, err = w.eng.SyncSource(ctx, "mimecast")
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{both.Value, thirdOnly.Value, engHash("mc", 1)}, w.ns.Contents(hashListTarget.ID))
}

// TestReplaceProductOverCapacity: the product refuses a value as over capacity
// although the engine's packing let it in; the list is not pushed again every
// cycle for it, only after the retry delay.
func TestReplaceProductOverCapacity(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	ctx := t.Context()
	feed := engInds("mc", 3, ioc.SeverityHigh, engStart)
	w.mc.Feed(feed...)
	full := feed[2].Value
	w.ns.SetReject(func(_ string, ind ioc.Indicator) *cte.Rejected {
		if ind.Value == full {
			return &cte.Rejected{Reason: cte.ReasonOverCapacity, Code: "capacity"}
		}
		return nil
	})
	rep, err := w.eng.SyncSource(ctx, "mimecast")
	require.NoError(t, err)
	assert.Equal(t, 2, rep.Shares[0].Applied)
	assert.Equal(t, 1, rep.Shares[0].OverCapacity)
	pushes := len(w.ns.Pushes())
	rep, err = w.eng.SyncSource(ctx, "mimecast")
	require.NoError(t, err)
	assert.False(t, rep.Shares[0].Pushed)
	assert.Len(t, w.ns.Pushes(), pushes)
	w.clock.Advance(2 * time.Minute)
	rep, err = w.eng.SyncSource(ctx, "mimecast")
	require.NoError(t, err)
	assert.True(t, rep.Shares[0].Pushed, "tried again after the delay")
	le, ok := w.ledger(t, "mc-to-ns", full)
	require.True(t, ok)
	assert.Equal(t, 2, le.Attempts)
}

func TestExplainDecisions(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	ctx := t.Context()
	url := ioc.Indicator{Type: ioc.TypeURL, Value: "http://evil.example/x", Severity: ioc.SeverityHigh, LastSeen: engStart}
	empty := ioc.Indicator{Type: ioc.TypeSHA256, Value: ioc.EmptySHA256, Severity: ioc.SeverityHigh, LastSeen: engStart}
	refused := engInd("refused", 0, ioc.SeverityHigh, engStart)
	later := engInd("later", 0, ioc.SeverityHigh, engStart)
	w.ns.Feed(url, empty, refused, later)
	w.mc.SetReject(func(_ string, ind ioc.Indicator) *cte.Rejected {
		switch ind.Value {
		case refused.Value:
			return &cte.Rejected{Reason: "allow-listed"}
		case later.Value:
			return &cte.Rejected{Reason: "busy", Retryable: true}
		}
		return nil
	})
	_, err := w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	why := func(v string) string {
		t.Helper()
		ex, err := w.eng.Explain(ctx, v)
		require.NoError(t, err)
		require.Len(t, ex.Sharing, 2)
		return ex.Sharing[1].Why
	}
	assert.Contains(t, why(url.Value), `target "operation/BLOCK" does not accept url`)
	assert.Contains(t, why(empty.Value), "never shared")
	assert.Contains(t, why(refused.Value), "rejected by the target: allow-listed")
	assert.Contains(t, why(later.Value), "retryable, next attempt at")
	require.NoError(t, w.eng.AddRule(sharing.Rule{Name: "malware", Filter: "severity >= medium", Muted: true}))
	assert.Contains(t, why(refused.Value), "muted")
}

// Values that leave a Replace list because they aged out are the lifecycle
// working: they do not count against the guardrail, which guards against rule edits
// and sources that lost their data.
func TestGuardrailIgnoresAgedOutValues(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	ctx := t.Context()
	old := engInds("mc-old", 30, ioc.SeverityHigh, engStart)
	w.mc.Feed(old...)
	_, err := w.eng.SyncSource(ctx, "mimecast")
	require.NoError(t, err)
	require.Len(t, w.ns.Contents(hashListTarget.ID), 30)

	w.clock.Advance(60 * 24 * time.Hour)
	fresh := engInds("mc-new", 10, ioc.SeverityHigh, w.clock.Now())
	w.mc.Feed(fresh...)
	_, err = w.eng.SyncSource(ctx, "mimecast")
	require.NoError(t, err)
	require.Len(t, w.ns.Contents(hashListTarget.ID), 40)

	// Mimecast's 90-day aging takes the 30 old values: 30 of 40 leave the list.
	w.clock.Advance(31 * 24 * time.Hour)
	p, err := w.eng.Plan(ctx, "mc-to-ns", 0)
	require.NoError(t, err)
	assert.False(t, p.Guardrail, "aged-out values do not trip the guardrail")
	_, err = w.eng.SyncSource(ctx, "mimecast")
	require.NoError(t, err)
	assert.ElementsMatch(t, engValues(fresh), w.ns.Contents(hashListTarget.ID))
}

// A product that lost what it was given gets everything again on a replay, with
// no checkpoint edits and no new configuration.
func TestReplaySendsEverythingAgain(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	ctx := t.Context()
	w.mc.Feed(engInds("mc", 25, ioc.SeverityHigh, engStart)...)
	w.ns.Feed(engInds("ns", 7, ioc.SeverityHigh, engStart)...)
	_, err := w.eng.SyncSource(ctx, "mimecast")
	require.NoError(t, err)
	_, err = w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)

	// A normal share sends nothing new.
	nsPushes, mcPushes := len(w.ns.Pushes()), len(w.mc.Pushes())
	rep, err := w.eng.Share(ctx, "mc-to-ns")
	require.NoError(t, err)
	assert.False(t, rep.Pushed)
	rep, err = w.eng.Share(ctx, "ns-to-mc")
	require.NoError(t, err)
	assert.Zero(t, rep.Sent)
	require.Len(t, w.ns.Pushes(), nsPushes)
	require.Len(t, w.mc.Pushes(), mcPushes)

	// A replay sends everything again, to the Replace list and the Append target.
	rep, err = w.eng.Share(ctx, "mc-to-ns", sharing.WithReplay())
	require.NoError(t, err)
	assert.True(t, rep.Pushed)
	assert.Len(t, w.ns.Pushes(), nsPushes+1)
	assert.Len(t, w.ns.Contents(hashListTarget.ID), 25)
	rep, err = w.eng.Share(ctx, "ns-to-mc", sharing.WithReplay())
	require.NoError(t, err)
	assert.Equal(t, 7, rep.Sent)
	assert.Equal(t, 7, rep.Applied)
	assert.Greater(t, len(w.mc.Pushes()), mcPushes)
	var replays int
	for _, e := range findLogs(t, w.eng, "", slog.LevelWarn) {
		if strings.Contains(e.Message, "replay requested") {
			replays++
		}
	}
	assert.Equal(t, 2, replays, "each replay is audited")

	// And afterwards the ledger is whole again: nothing more is sent.
	rep, err = w.eng.Share(ctx, "ns-to-mc")
	require.NoError(t, err)
	assert.Zero(t, rep.Sent)
	assert.Equal(t, 7, rep.Unchanged)
}
