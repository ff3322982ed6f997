package sharing_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
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

var errDisk = errors.New("disk full")

// faultyStore fails the named Tx operations while they are set.
type faultyStore struct {
	sharing.Store
	mu    sync.Mutex
	fail  map[string]bool
	fails map[string]int // the calls failed, by operation
	// failMergeAt is the Merge, counted in merges from failNthMerge, that fails
	failMergeAt, merges int
}

// failNthMerge makes the n-th Merge from now fail (0: none). Pages are
// stored, so merged, in the plugin's order, whether or not it is read ahead.
func (s *faultyStore) failNthMerge(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failMergeAt, s.merges = n, 0
}

func (s *faultyStore) set(op string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[op] = on
}

func (s *faultyStore) failing(op string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail[op] {
		if s.fails == nil {
			s.fails = map[string]int{}
		}
		s.fails[op]++
	}
	return s.fail[op]
}

// failed returns how many calls of op failed.
func (s *faultyStore) failed(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fails[op]
}

func (s *faultyStore) View(ctx context.Context, fn func(sharing.Tx) error) error {
	return s.Store.View(ctx, func(tx sharing.Tx) error { return fn(faultyTx{tx, s}) })
}

// Update fails its commit, once fn is done, when "Commit" is set: what fn
// wrote is rolled back.
func (s *faultyStore) Update(ctx context.Context, fn func(sharing.Tx) error) error {
	return s.Store.Update(ctx, func(tx sharing.Tx) error {
		if err := fn(faultyTx{tx, s}); err != nil {
			return err
		}
		if s.failing("Commit") {
			return errDisk
		}
		return nil
	})
}

type faultyTx struct {
	sharing.Tx
	s *faultyStore
}

func (t faultyTx) Merge(source string, in []ioc.Indicator, now time.Time) (sharing.MergeStats, error) {
	if t.s.failing("Merge") {
		return sharing.MergeStats{}, errDisk
	}
	t.s.mu.Lock()
	t.s.merges++
	nth := t.s.merges == t.s.failMergeAt
	t.s.mu.Unlock()
	if nth {
		return sharing.MergeStats{}, errDisk
	}
	return t.Tx.Merge(source, in, now)
}

func (t faultyTx) Records(fn func(r *sharing.Record) error) error {
	if t.s.failing("Records") {
		return errDisk
	}
	return t.Tx.Records(fn)
}

func (t faultyTx) PutLedger(config string, entries []sharing.LedgerEntry) error {
	if t.s.failing("PutLedger") {
		return errDisk
	}
	return t.Tx.PutLedger(config, entries)
}

func (t faultyTx) PutRunState(r sharing.RunState) error {
	if t.s.failing("PutRunState " + r.Name) {
		return errDisk
	}
	return t.Tx.PutRunState(r)
}

func (t faultyTx) Log(e sharing.AuditEntry) error {
	if t.s.failing("Log") {
		return errDisk
	}
	return t.Tx.Log(e)
}

func newFaultyWorld(t *testing.T) (*engWorld, *faultyStore) {
	t.Helper()
	w := newEngWorld(t)
	fs := &faultyStore{Store: w.store, fail: map[string]bool{}}
	w.eng = w.newEngine(t, fs)
	return w, fs
}

// afterPush is a plugin that calls after once a push is done (a crash, a
// full disk, right after the product took the values).
type afterPush struct {
	*plugintest.Fake
	after func()
}

func (p *afterPush) Push(ctx context.Context, t cte.Target, in []ioc.Indicator) (cte.PushResult, error) {
	res, err := p.Fake.Push(ctx, t, in)
	p.after()
	return res, err
}

func TestStoreFailures(t *testing.T) {
	t.Parallel()
	t.Run("ledger write after a push", func(t *testing.T) {
		t.Parallel()
		w, fs := newFaultyWorld(t)
		ctx := t.Context()
		w.ns.Feed(engInds("ns", 3, ioc.SeverityHigh, engStart)...)
		_, err := w.eng.SyncSource(ctx, "netskope") // stores, shares
		require.NoError(t, err)
		w.ns.Feed(engInds("ns2", 2, ioc.SeverityHigh, engStart)...)
		// The intent is recorded; the outcome of the push is not.
		var once sync.Once
		require.NoError(t, w.eng.AddPlugin("mimecast", &afterPush{Fake: w.mc, after: func() { once.Do(func() { fs.set("PutLedger", true) }) }}, sharing.SourceSettings{}))
		_, err = w.eng.SyncSource(ctx, "netskope")
		require.ErrorIs(t, err, errDisk)
		assert.ErrorContains(t, err, "record push outcome")
		fs.set("PutLedger", false)
		errs := findLogs(t, w.eng, "ns-to-mc", slog.LevelError)
		require.NotEmpty(t, errs)
		assert.Contains(t, errs[0].Resolution, "sent again")
		// The unrecorded values are sent again and recorded.
		before := len(w.mc.Pushes())
		rep, err := w.eng.SyncSource(ctx, "netskope")
		require.NoError(t, err)
		assert.Equal(t, 2, rep.Shares[0].Applied)
		assert.Equal(t, 2, pushedValues(w.mc.Pushes()[before:]))
		assert.Len(t, w.mc.Contents(blockTarget.ID), 5)
	})
	t.Run("replace record", func(t *testing.T) {
		t.Parallel()
		w, fs := newFaultyWorld(t)
		ctx := t.Context()
		w.mc.Feed(engInds("mc", 3, ioc.SeverityHigh, engStart)...)
		fs.set("PutLedger", true)
		_, err := w.eng.SyncSource(ctx, "mimecast")
		require.ErrorIs(t, err, errDisk)
		assert.ErrorContains(t, err, "record the outcome")
		errs := findLogs(t, w.eng, "mc-to-ns", slog.LevelError)
		require.NotEmpty(t, errs)
		assert.Contains(t, errs[0].Message, "record the outcome", "stored on its own")
		assert.Contains(t, w.logs.String(), "share not recorded: shared to netskope", "the summary, logged only, says the share was not recorded")
		assert.Equal(t, 1, fs.failed("PutLedger"), "not written again without the audit entries: it would fail the same")
		fs.set("PutLedger", false)
		rep, err := w.eng.SyncSource(ctx, "mimecast")
		require.NoError(t, err)
		assert.True(t, rep.Shares[0].Pushed, "pushed again, since the applied set was not recorded")
	})
	t.Run("select", func(t *testing.T) {
		t.Parallel()
		w, fs := newFaultyWorld(t)
		ctx := t.Context()
		fs.set("Records", true)
		for _, name := range []string{"ns-to-mc", "mc-to-ns"} {
			_, err := w.eng.Share(ctx, name)
			require.ErrorIs(t, err, errDisk)
			assert.ErrorContains(t, err, "select indicators")
			_, err = w.eng.Plan(ctx, name, 0)
			require.ErrorIs(t, err, errDisk)
		}
		_, err := w.eng.Age(ctx)
		require.ErrorIs(t, err, errDisk)
		_, err = w.eng.Indicators(ctx, "", 0)
		require.ErrorIs(t, err, errDisk)
		fs.set("Records", false)
		errs := findLogs(t, w.eng, "", slog.LevelError)
		assert.GreaterOrEqual(t, len(errs), 2)
	})
	t.Run("merge", func(t *testing.T) {
		t.Parallel()
		w, fs := newFaultyWorld(t)
		ctx := t.Context()
		w.ns.SetPageSize(2)
		w.ns.Feed(engInds("ns", 3, ioc.SeverityHigh, engStart)...)
		fs.set("Merge", true)
		rep, err := w.eng.SyncSource(ctx, "netskope")
		require.ErrorIs(t, err, errDisk)
		assert.ErrorContains(t, err, "store a page")
		assert.Zero(t, rep.Pages)
		fs.set("Merge", false)
		rep, err = w.eng.SyncSource(ctx, "netskope")
		require.NoError(t, err)
		assert.Equal(t, 3, rep.Indicators, "the page that failed to store is pulled again")
	})
	t.Run("muted run state", func(t *testing.T) {
		t.Parallel()
		w, fs := newFaultyWorld(t)
		ctx := t.Context()
		require.NoError(t, w.eng.AddRule(sharing.Rule{Name: "hashes", Filter: "type in (sha256, md5)", Muted: true}))
		fs.set("PutRunState sharing/mc-to-ns", true)
		_, err := w.eng.Share(ctx, "mc-to-ns")
		fs.set("PutRunState sharing/mc-to-ns", false)
		require.ErrorIs(t, err, errDisk)
		assert.Contains(t, w.logs.String(), "is muted", "the note is logged though it could not be stored")
		assert.Contains(t, w.logs.String(), "cannot store audit entry and run state")
	})
	t.Run("push and record", func(t *testing.T) {
		t.Parallel()
		w, fs := newFaultyWorld(t)
		ctx := t.Context()
		require.NoError(t, w.eng.AddPlugin("netskope", &failingPlugin{Fake: w.ns, failAt: 1, err: errors.New("connection reset")},
			sharing.SourceSettings{SyncInterval: time.Hour}))
		w.mc.Feed(engInds("mc", 2, ioc.SeverityHigh, engStart)...)
		fs.set("PutRunState sharing/mc-to-ns", true)
		_, err := w.eng.SyncSource(ctx, "mimecast")
		fs.set("PutRunState sharing/mc-to-ns", false)
		require.ErrorIs(t, err, errDisk, "the store's error")
		assert.ErrorContains(t, err, "connection reset", "and the push's")
		assert.ErrorContains(t, err, "recording it failed too")
	})
	t.Run("audit log", func(t *testing.T) {
		t.Parallel()
		w, fs := newFaultyWorld(t)
		ctx := t.Context()
		w.ns.Feed(engInds("ns", 1, ioc.SeverityHigh, engStart)...)
		fs.set("Log", true)
		rep, err := w.eng.SyncSource(ctx, "netskope")
		require.NoError(t, err, "an audit failure does not stop sharing")
		assert.Equal(t, 1, rep.Shares[0].Applied)
		assert.Contains(t, w.logs.String(), "cannot store audit entry")
	})
}

func TestRetractionFailures(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	ctx := t.Context()
	w.ns.Feed(engInds("ns", 3, ioc.SeverityHigh, engStart)...)
	_, err := w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	w.clock.Advance(31 * 24 * time.Hour)
	w.mc.SetBadAuth(true)
	_, err = w.eng.Age(ctx)
	require.ErrorIs(t, err, cte.ErrAuth)
	errs := findLogs(t, w.eng, "ns-to-mc", slog.LevelError)
	require.NotEmpty(t, errs)
	assert.Contains(t, errs[len(errs)-1].Resolution, "credentials")
	le, ok := w.ledger(t, "ns-to-mc", engHash("ns", 0))
	require.True(t, ok)
	assert.Equal(t, sharing.StateApplied, le.State, "still applied until the retraction works")

	w.mc.SetBadAuth(false)
	rep, err := w.eng.Age(ctx)
	require.NoError(t, err)
	assert.Equal(t, 3, rep.Retracted)
	assert.Empty(t, w.mc.Contents(blockTarget.ID))
}

// noRetract is a destination that cannot retract.
type noRetract struct{ cte.Plugin }

func TestRetractionNotSupported(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	ctx := t.Context()
	require.NoError(t, w.eng.AddPlugin("mimecast", noRetract{w.mc}, sharing.SourceSettings{}))
	w.ns.Feed(engInds("ns", 2, ioc.SeverityHigh, engStart)...)
	_, err := w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	w.clock.Advance(31 * 24 * time.Hour)
	rep, err := w.eng.Age(ctx)
	require.NoError(t, err)
	assert.Zero(t, rep.Retracted)
	p, err := w.eng.Plan(ctx, "ns-to-mc", 0)
	require.NoError(t, err)
	assert.Equal(t, 2, p.ToRetract, "the plan shows what stays on the target")
	sr, err := w.eng.Share(ctx, "ns-to-mc")
	require.NoError(t, err)
	assert.Equal(t, 1, sr.Reasons["inactive, destination cannot retract"])
	warn := findLogs(t, w.eng, "ns-to-mc", slog.LevelWarn)
	require.NotEmpty(t, warn)
	assert.Contains(t, warn[len(warn)-1].Resolution, "cannot remove")
	assert.Len(t, w.mc.Contents(blockTarget.ID), 2)
}

func TestShareCancelledWhileWaiting(t *testing.T) {
	t.Parallel()
	eng, err := sharing.New(memstore.New())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = eng.Share(ctx, "nope")
	require.Error(t, err)
	w := newEngWorld(t)
	_, err = w.eng.Share(ctx, "ns-to-mc")
	require.Error(t, err)
	_, err = w.eng.SyncSource(ctx, "netskope")
	require.ErrorIs(t, err, context.Canceled)
}

// TestRateLimitWaitHonoured: a product that asks for a 30-minute wait gets it:
// the unsent indicators are not retried before.
func TestRateLimitWaitHonoured(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	ctx := t.Context()
	fp := &failingPlugin{Fake: w.mc, failAt: 1, err: fmt.Errorf("mimecast: create batch: %w", &cte.RateLimitError{Wait: 30 * time.Minute, Reason: "HTTP 429"})}
	require.NoError(t, w.eng.AddPlugin("mimecast", fp, sharing.SourceSettings{}))
	w.ns.Feed(engInds("ns", 6, ioc.SeverityHigh, engStart)...)
	_, err := w.eng.SyncSource(ctx, "netskope")
	require.ErrorIs(t, err, cte.ErrRateLimited)
	le, ok := w.ledger(t, "ns-to-mc", engHash("ns", 5))
	require.True(t, ok)
	assert.Equal(t, engStart.Add(30*time.Minute), le.NextAttempt)

	w.clock.Advance(10 * time.Minute)
	rep, err := w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	assert.Equal(t, 6, rep.Shares[0].Waiting)
	assert.Empty(t, w.mc.Contents(blockTarget.ID))

	w.clock.Advance(21 * time.Minute)
	rep, err = w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	assert.Equal(t, 6, rep.Shares[0].Applied)
}

// TestCrashDuringPushDuplicates: the intent to push is recorded before the
// push, so after a crash between a push and the record of its outcome the
// ledger tells the batch that was sent (sending) from the batches never sent
// (no entry). The restart sends the unconfirmed batch again (at least once:
// those are the only duplicates) and the rest once.
func TestCrashDuringPushDuplicates(t *testing.T) {
	t.Parallel()
	w, fs := newFaultyWorld(t)
	ctx := t.Context()
	inds := engInds("ns", 10, ioc.SeverityHigh, engStart) // 3 batches of at most 4
	w.ns.Feed(inds...)
	var once sync.Once
	crash := &afterPush{Fake: w.mc, after: func() { once.Do(func() { fs.set("PutLedger", true) }) }}
	require.NoError(t, w.eng.AddPlugin("mimecast", crash, sharing.SourceSettings{}))
	_, err := w.eng.SyncSource(ctx, "netskope")
	require.ErrorIs(t, err, errDisk, "the process dies after the first batch reached the product")
	fs.set("PutLedger", false)
	require.Len(t, w.mc.Pushes(), 1)
	first := map[string]bool{}
	for _, x := range w.mc.Pushes()[0].Indicators {
		first[x.Value] = true
	}
	require.Len(t, first, 4)
	for _, x := range inds {
		le, ok := w.ledger(t, "ns-to-mc", x.Value)
		if first[x.Value] {
			require.True(t, ok)
			assert.Equal(t, sharing.StateSending, le.State, "sent, not confirmed")
		} else {
			assert.False(t, ok, "never sent: no entry")
		}
	}

	// The restart: a new engine over the same store.
	eng := w.newEngine(t, fs)
	rep, err := eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	assert.Equal(t, 10, rep.Shares[0].Applied)
	sent := map[string]int{}
	for _, c := range w.mc.Pushes() {
		for _, x := range c.Indicators {
			sent[x.Value]++
		}
	}
	dup := 0
	for _, x := range inds {
		dup += sent[x.Value] - 1
		if !first[x.Value] {
			assert.Equal(t, 1, sent[x.Value], "a value never sent is sent once")
		}
	}
	t.Logf("duplicates after a crash during the push: %d of %d values (the unconfirmed batch)", dup, len(inds))
	assert.Equal(t, 4, dup)
	said := false
	for _, e := range findLogs(t, eng, "ns-to-mc", slog.LevelWarn) {
		said = said || strings.Contains(e.Message, "4 indicator(s) were being sent when the last share stopped")
	}
	assert.True(t, said, "the audit says what is sent again")
}

// TestActionNotStored runs each operator action on a store whose commit
// fails: the report names no value (nothing was stored; a caller seeing
// values says they were), the error is the store's, and nothing changed.
func TestActionNotStored(t *testing.T) {
	t.Parallel()
	w, fs := newFaultyWorld(t)
	ctx := t.Context()
	v := engHash("x", 1)
	_, err := w.eng.AddIndicators(ctx, []sharing.NewIndicator{{Value: v, Tags: []string{"a"}}})
	require.NoError(t, err)
	fs.set("Commit", true)
	for name, act := range map[string]func() (sharing.ActionReport, error){
		"add": func() (sharing.ActionReport, error) {
			return w.eng.AddIndicators(ctx, []sharing.NewIndicator{{Value: engHash("x", 2)}})
		},
		"mark-safe":   func() (sharing.ActionReport, error) { return w.eng.MarkSafe(ctx, []string{v}, "fp") },
		"unmark-safe": func() (sharing.ActionReport, error) { return w.eng.UnmarkSafe(ctx, []string{v}) },
		"tag":         func() (sharing.ActionReport, error) { return w.eng.Tag(ctx, []string{v}, []string{"b"}) },
		"untag":       func() (sharing.ActionReport, error) { return w.eng.Untag(ctx, []string{v}, []string{"a"}) },
		"delete":      func() (sharing.ActionReport, error) { return w.eng.Delete(ctx, []string{v}, "gone") },
	} {
		rep, err := act()
		require.ErrorIs(t, err, errDisk, name)
		assert.Empty(t, rep.Values, name)
		assert.Empty(t, rep.Unknown, name)
		assert.Equal(t, name, rep.Action)
	}
	fs.set("Commit", false)
	recs, err := w.eng.Indicators(ctx, "all", 0)
	require.NoError(t, err)
	require.Len(t, recs, 1, "only the first add is stored")
	assert.Equal(t, v, recs[0].Value)
	marks, err := w.eng.Marks(ctx)
	require.NoError(t, err)
	assert.Empty(t, marks)
}

// afterScan runs hook once, before the first Update that follows a View
// reading config's ledger (a share's read of what it holds): the moment
// between a share's read and its first write.
type afterScan struct {
	sharing.Store
	config string
	hook   func()
	read   atomic.Bool
	done   atomic.Bool
}

type ledgerSpy struct {
	sharing.Tx
	s *afterScan
}

func (t ledgerSpy) Ledger(config, value string) (sharing.LedgerEntry, bool, error) {
	if config == t.s.config {
		t.s.read.Store(true)
	}
	return t.Tx.Ledger(config, value)
}

func (s *afterScan) View(ctx context.Context, fn func(sharing.Tx) error) error {
	return s.Store.View(ctx, func(tx sharing.Tx) error { return fn(ledgerSpy{tx, s}) })
}

func (s *afterScan) Update(ctx context.Context, fn func(sharing.Tx) error) error {
	if s.read.Load() && s.done.CompareAndSwap(false, true) {
		s.hook()
	}
	return s.Store.Update(ctx, fn)
}

// TestMarkedMeanwhileIsNotSent: a value an operator marks safe (or deletes,
// on any instance) after an Append share read it and before the share
// records its batch as being sent is left out of the push: the mark and the
// "sending" entry are decided in one Update. It was sent, with nothing left
// to retract it had the operator deleted it.
func TestMarkedMeanwhileIsNotSent(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	ctx := t.Context()
	bad := engHash("ns", 1)
	as := &afterScan{Store: w.store, config: "ns-to-mc"}
	as.hook = func() {
		_, err := w.eng.MarkSafe(ctx, []string{bad}, "a false positive")
		require.NoError(t, err)
	}
	w.eng = w.newEngine(t, as)
	w.ns.Feed(engInds("ns", 3, ioc.SeverityHigh, engStart)...)
	rep, err := w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	require.True(t, as.done.Load(), "the mark came between the share's read and its first write")
	assert.NotContains(t, w.mc.Contents(blockTarget.ID), bad)
	assert.Contains(t, w.mc.Contents(blockTarget.ID), engHash("ns", 0))
	require.Len(t, rep.Shares, 1)
	assert.Equal(t, 2, rep.Shares[0].Sent)
}
