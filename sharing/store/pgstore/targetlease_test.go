package pgstore_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/internal/pgtest"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/plugintest"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/pgstore"
	"github.com/ctexchange/cte/sharing/store/storetest"
)

const listLease = "target/dst/list"

// probe is a destination that checks, on every push and retraction, that the
// call's context carries the target's lease and that the database shows that
// lease held by the same holder with the same token at that moment.
type probe struct {
	*plugintest.Fake
	s     *pgstore.Store
	mu    sync.Mutex
	calls []string // "push" or "retract", with " WITHOUT LEASE" when the check failed
}

var _ cte.Retractor = (*probe)(nil)

func (p *probe) check(ctx context.Context, op string) {
	var carried *sharing.Lease
	for _, l := range sharing.LeasesFrom(ctx) {
		if l.Name == listLease {
			carried = &l
		}
	}
	held := false
	if ls, err := p.s.Leases(context.WithoutCancel(ctx), listLease); err == nil && carried != nil {
		held = len(ls) == 1 && ls[0].Holder == carried.Holder && ls[0].Token == carried.Token
	}
	if !held {
		op += " WITHOUT LEASE"
	}
	p.mu.Lock()
	p.calls = append(p.calls, op)
	p.mu.Unlock()
}

func (p *probe) Push(ctx context.Context, t cte.Target, in []ioc.Indicator) (cte.PushResult, error) {
	p.check(ctx, "push")
	return p.Fake.Push(ctx, t, in)
}

func (p *probe) Retract(ctx context.Context, t cte.Target, in []ioc.Indicator) (cte.PushResult, error) {
	p.check(ctx, "retract")
	return p.Fake.Retract(ctx, t, in)
}

func (p *probe) took() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.calls
	p.calls = nil
	return out
}

// leaseWorld is one instance "a" on a database, sharing source s1 (aging one
// hour) to the Append list of dst, with a clock the test moves.
type leaseWorld struct {
	s     *pgstore.Store
	e     *sharing.Engine
	src   *plugintest.Fake
	dst   *probe
	clock atomic.Int64 // unix nanoseconds
}

func newLeaseWorld(t *testing.T) *leaseWorld {
	t.Helper()
	w := &leaseWorld{s: open(t, pgtest.DSN(t)), src: plugintest.NewFake()}
	w.clock.Store(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC).UnixNano())
	target := cte.Target{ID: "list", Label: "list", Mode: cte.Append, Types: []ioc.Type{ioc.TypeSHA256}, Limits: cte.Limits{BatchSize: 10}}
	w.dst = &probe{Fake: plugintest.NewFake(target), s: w.s}
	var err error
	w.e, err = sharing.New(w.s, sharing.WithInstance("a", time.Minute),
		sharing.WithClock(func() time.Time { return time.Unix(0, w.clock.Load()).UTC() }),
		sharing.WithLogger(slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError}))))
	require.NoError(t, err)
	require.NoError(t, w.e.AddPlugin("s1", w.src, sharing.SourceSettings{Aging: time.Hour}))
	require.NoError(t, w.e.AddPlugin("dst", w.dst, sharing.SourceSettings{PushOnly: true}))
	require.NoError(t, w.e.AddRule(sharing.Rule{Name: "all"}))
	require.NoError(t, w.e.AddSharing(t.Context(), sharing.Config{Name: "s1-to-dst", Source: "s1", Rule: "all", Destination: "dst", Target: "list"}))
	for i := range 3 {
		w.src.Feed(ioc.Indicator{Type: ioc.TypeSHA256, Value: storetest.Hash(i), LastSeen: w.now()})
	}
	_, err = w.e.SyncSource(t.Context(), "s1")
	require.NoError(t, err)
	require.Equal(t, []string{"push"}, w.dst.took(), "the first share pushes under the lease")
	require.Len(t, w.dst.Contents("list"), 3)
	return w
}

func (w *leaseWorld) now() time.Time { return time.Unix(0, w.clock.Load()).UTC() }

// other makes another instance "b" hold the target's lease; the returned
// function releases it.
func (w *leaseWorld) other(t *testing.T) func() {
	t.Helper()
	l, ok, err := w.s.Acquire(t.Context(), listLease, "b", time.Hour)
	require.NoError(t, err)
	require.True(t, ok)
	return func() { require.NoError(t, w.s.Release(t.Context(), l)) }
}

// deferrals returns the audit messages of work deferred because of b.
func (w *leaseWorld) deferrals(t *testing.T) []string {
	t.Helper()
	logs, err := w.e.Logs(t.Context(), sharing.LogFilter{MinLevel: slog.LevelDebug})
	require.NoError(t, err)
	var out []string
	for _, a := range logs {
		if strings.Contains(a.Message, "deferred to the next sync") {
			out = append(out, a.Message)
		}
	}
	return out
}

// Age's retractions take the target's lease: deferred (and audited) while
// another instance holds it, done under it once it is free.
func TestAgeRetractsUnderTheTargetLease(t *testing.T) {
	t.Parallel()
	w := newLeaseWorld(t)
	w.clock.Add(int64(2 * time.Hour)) // everything aged out
	release := w.other(t)
	rep, err := w.e.Age(t.Context())
	require.NoError(t, err)
	assert.Zero(t, rep.Retracted)
	assert.Equal(t, 3, rep.Inactive["s1"], "marking inactive needs no target")
	assert.Empty(t, w.dst.took(), "nothing reaches a target another instance holds")
	assert.Len(t, w.dst.Contents("list"), 3)
	assert.Equal(t, []string{"retraction of inactive indicators deferred to the next sync: cte instance b is pushing to dst list (lease target/dst/list)"}, w.deferrals(t))

	release()
	rep, err = w.e.Age(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 3, rep.Retracted)
	assert.Equal(t, []string{"retract"}, w.dst.took())
	assert.Empty(t, w.dst.Contents("list"))
	assert.Empty(t, w.e.HeldLeases(), "released after the retraction")
}

// A replay takes the target's lease; while another instance holds it the
// replay fails (nothing reset, nothing sent) and says to try again.
func TestReplayUnderTheTargetLease(t *testing.T) {
	t.Parallel()
	w := newLeaseWorld(t)
	release := w.other(t)
	rep, err := w.e.Share(t.Context(), "s1-to-dst", sharing.WithReplay())
	require.ErrorContains(t, err, `sharing "s1-to-dst": replay: another cte instance is pushing to dst list now (lease target/dst/list): replay again in a moment`)
	assert.True(t, rep.Deferred)
	assert.Empty(t, w.dst.took())
	assert.Len(t, w.deferrals(t), 1)
	st, err := w.e.Sharing(t.Context())
	require.NoError(t, err)
	require.Len(t, st, 1)
	assert.Equal(t, 3, st[0].Applied, "the ledger was not reset")

	release()
	rep, err = w.e.Share(t.Context(), "s1-to-dst", sharing.WithReplay())
	require.NoError(t, err)
	assert.False(t, rep.Deferred)
	assert.Equal(t, 3, rep.Sent)
	assert.Equal(t, []string{"push"}, w.dst.took())
}

// A share (as the scheduler runs it) is deferred while another instance holds
// the target's lease: nothing is pushed, nothing recorded as a run.
func TestShareDefersToTheLeaseHolder(t *testing.T) {
	t.Parallel()
	w := newLeaseWorld(t)
	w.src.Feed(ioc.Indicator{Type: ioc.TypeSHA256, Value: storetest.Hash(10), LastSeen: w.now()})
	release := w.other(t)
	rep, err := w.e.SyncSource(t.Context(), "s1")
	require.NoError(t, err)
	assert.Empty(t, rep.Shares, "a deferred share is not reported as run")
	assert.Empty(t, w.dst.took())
	assert.Len(t, w.deferrals(t), 1)
	release()
	sr, err := w.e.Share(t.Context(), "s1-to-dst")
	require.NoError(t, err)
	assert.Equal(t, 1, sr.Applied)
	assert.Equal(t, []string{"push"}, w.dst.took())
}

// Marking safe or deleting with ApplyNow retracts at once under the target's
// lease; while another instance holds it, the retraction is deferred to the
// next sync, which does it.
func TestActionsRetractUnderTheTargetLease(t *testing.T) {
	t.Parallel()
	w := newLeaseWorld(t)
	release := w.other(t)
	rep, err := w.e.MarkSafe(t.Context(), []string{storetest.Hash(0)}, "a false positive", sharing.ApplyNow())
	require.NoError(t, err)
	require.Len(t, rep.Shares, 1)
	assert.True(t, rep.Shares[0].Deferred)
	assert.Empty(t, w.dst.took())
	assert.Contains(t, w.dst.Contents("list"), storetest.Hash(0))
	assert.Equal(t, []string{"share deferred to the next sync: cte instance b is pushing to dst list (lease target/dst/list)"}, w.deferrals(t))

	release()
	_, err = w.e.SyncSource(t.Context(), "s1")
	require.NoError(t, err)
	assert.Equal(t, []string{"retract"}, w.dst.took(), "the next sync retracts it")
	assert.NotContains(t, w.dst.Contents("list"), storetest.Hash(0))

	rep, err = w.e.Delete(t.Context(), []string{storetest.Hash(1)}, "not ours", sharing.ApplyNow())
	require.NoError(t, err)
	require.Len(t, rep.Shares, 1)
	assert.False(t, rep.Shares[0].Deferred)
	assert.Equal(t, 1, rep.Shares[0].Retracted)
	assert.Equal(t, []string{"retract"}, w.dst.took(), "retracted at once, under the lease")
	assert.Empty(t, w.e.HeldLeases())
}
