package pgstore_test

import (
	"context"
	"iter"
	"log/slog"
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

// pulls counts the Pull calls in flight on one source product, over every
// instance, and the most seen at once.
type pulls struct {
	now, most atomic.Int32
}

// gate makes the next call of a plugin wait (arm) before it reaches the
// product.
type gate struct {
	mu            sync.Mutex
	gate, entered chan struct{}
}

// arm makes the next call wait until the returned release is called;
// entered is closed when that call starts.
func (g *gate) arm() (entered <-chan struct{}, release func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gate, g.entered = make(chan struct{}), make(chan struct{})
	gate := g.gate
	return g.entered, func() { close(gate) }
}

// take returns the armed gate, if any, for the call starting now.
func (g *gate) take() (gate, entered chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	gate, entered = g.gate, g.entered
	g.gate, g.entered = nil, nil
	return gate, entered
}

// gatedSource is one instance's client of a shared source product: a Pull
// can be made to wait (armed gate) before it reads the product.
type gatedSource struct {
	*plugintest.Fake
	gate
	counter *pulls
}

func (g *gatedSource) Pull(ctx context.Context, from cte.Checkpoint) iter.Seq2[cte.Page, error] {
	return func(yield func(cte.Page, error) bool) {
		gate, entered := g.take()
		n := g.counter.now.Add(1)
		defer g.counter.now.Add(-1)
		for {
			m := g.counter.most.Load()
			if n <= m || g.counter.most.CompareAndSwap(m, n) {
				break
			}
		}
		if gate != nil {
			close(entered)
			select {
			case <-gate:
			case <-ctx.Done():
				yield(cte.Page{}, ctx.Err())
				return
			}
		}
		for p, err := range g.Fake.Pull(ctx, from) {
			if !yield(p, err) {
				return
			}
		}
	}
}

// spyStore counts the Acquire calls of one lease.
type spyStore struct {
	*pgstore.Store
	name     string
	acquires atomic.Int32
}

func (s *spyStore) Acquire(ctx context.Context, name, holder string, ttl time.Duration) (sharing.Lease, bool, error) {
	if name == s.name {
		s.acquires.Add(1)
	}
	return s.Store.Acquire(ctx, name, holder, ttl)
}

func newInstanceEngine(t *testing.T, st sharing.Store, name string, src cte.Plugin, dst cte.Plugin, interval time.Duration) *sharing.Engine {
	t.Helper()
	e, err := sharing.New(st, sharing.WithInstance(name, 30*time.Second),
		sharing.WithLogger(slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})).With("instance", name)))
	require.NoError(t, err)
	require.NoError(t, e.AddPlugin("s1", src, sharing.SourceSettings{SyncInterval: interval}))
	require.NoError(t, e.AddPlugin("dst", dst, sharing.SourceSettings{PushOnly: true}))
	require.NoError(t, e.AddRule(sharing.Rule{Name: "all"}))
	require.NoError(t, e.AddSharing(t.Context(), sharing.Config{Name: "s1-to-dst", Source: "s1", Rule: "all", Destination: "dst", Target: "list"}))
	return e
}

// TestSyncNowKeepsRunsSourceLease: a sync started outside Run (the
// console's "sync now", a host's SyncSource) on the instance whose Run holds
// the source's lease works under that lease and leaves it held when it ends:
// Run's own sync of the source, queued behind it, pulls under it, and
// another instance's sync is refused. The sync now released it, Run pulled
// without it, and two instances pulled the source at once.
func TestSyncNowKeepsRunsSourceLease(t *testing.T) {
	dsn := pgtest.DSN(t)
	feed := plugintest.NewFake()
	target := cte.Target{ID: "list", Label: "list", Mode: cte.Append, Types: []ioc.Type{ioc.TypeSHA256}, Limits: cte.Limits{BatchSize: 50}}
	dst := plugintest.NewFake(target)
	for i := range 5 {
		feed.Feed(ioc.Indicator{Type: ioc.TypeSHA256, Value: storetest.Hash(i), Severity: ioc.SeverityHigh})
	}
	counter := &pulls{}
	srcA := &gatedSource{Fake: feed, counter: counter}
	srcB := &gatedSource{Fake: feed, counter: counter}
	spy := &spyStore{Store: open(t, dsn), name: "source/s1"}
	a := newInstanceEngine(t, spy, "a", srcA, dst, time.Hour)
	sb := open(t, dsn)
	b := newInstanceEngine(t, sb, "b", srcB, dst, time.Hour)

	// The console's sync starts and is pulling.
	entered1, release1 := srcA.arm()
	consoleDone := make(chan error, 1)
	go func() {
		_, err := a.SyncSource(t.Context(), "s1")
		consoleDone <- err
	}()
	<-entered1

	// cte run starts on the same instance; its sync of s1 takes the lease
	// (a renewal: same holder) and waits for the console's pull.
	runCtx, stopRun := context.WithCancel(t.Context())
	runSync := make(chan error, 4)
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		_ = a.RunNotify(runCtx, func(_ sharing.SyncReport, err error, _ time.Time) { runSync <- err })
	}()
	t.Cleanup(func() { stopRun(); <-runDone })
	require.Eventually(t, func() bool { return spy.acquires.Load() >= 3 }, time.Minute, time.Millisecond,
		"console sync, Run's first renewal and Run's takeSource each acquired source/s1")

	entered2, release2 := srcA.arm()
	release1()
	require.NoError(t, <-consoleDone, "the console's sync")
	<-entered2 // Run's sync of s1 is pulling now

	ls, err := sb.Leases(t.Context(), "source/")
	require.NoError(t, err)
	holders := []string{}
	for _, l := range ls {
		holders = append(holders, l.Name+" "+l.Holder)
	}
	assert.Equal(t, []string{"source/s1 a"}, holders, "while a's Run pulls s1, a holds its lease")
	t.Logf("a.HeldLeases() while its Run pulls s1: %v", a.HeldLeases())

	// cte sync on another machine while a's Run pulls s1: it must be refused.
	for i := 5; i < 10; i++ {
		feed.Feed(ioc.Indicator{Type: ioc.TypeSHA256, Value: storetest.Hash(i), Severity: ioc.SeverityHigh})
	}
	_, err = b.SyncSource(t.Context(), "s1")
	assert.ErrorContains(t, err, "another cte instance is syncing it", "b's sync must be refused while a pulls s1")
	assert.EqualValues(t, 1, counter.most.Load(), "at most one pull of s1 at a time across the instances")

	release2()
	assert.NoError(t, <-runSync, "a's scheduled sync of s1")
}

// gatedDst is one instance's client of a shared destination: a Push can be
// made to wait (armed gate) before it reaches the product.
type gatedDst struct {
	*plugintest.Fake
	gate
}

func (g *gatedDst) Push(ctx context.Context, t cte.Target, in []ioc.Indicator) (cte.PushResult, error) {
	if gate, entered := g.take(); gate != nil {
		close(entered)
		<-gate
	}
	return g.Fake.Push(ctx, t, in)
}

// TestDeleteDuringAnotherInstancesPush: an operator deletes a value (the
// console, ApplyNow) on one instance while another instance's push of it is
// in flight (its ledger entry says "sending"): the deleted mark stays until
// the value is retracted. Only "applied" counted as a target holding it, so
// the mark went at once, the push landed, and nothing ever retracted it.
func TestDeleteDuringAnotherInstancesPush(t *testing.T) {
	dsn := pgtest.DSN(t)
	feed := plugintest.NewFake()
	target := cte.Target{ID: "list", Label: "list", Mode: cte.Append, Types: []ioc.Type{ioc.TypeSHA256}, Limits: cte.Limits{BatchSize: 50}}
	product := plugintest.NewFake(target)
	v := storetest.Hash(1)
	feed.Feed(ioc.Indicator{Type: ioc.TypeSHA256, Value: v, Severity: ioc.SeverityHigh})
	counter := &pulls{}
	dstB := &gatedDst{Fake: product}
	a := newInstanceEngine(t, open(t, dsn), "a", &gatedSource{Fake: feed, counter: counter}, &gatedDst{Fake: product}, time.Hour)
	b := newInstanceEngine(t, open(t, dsn), "b", &gatedSource{Fake: feed, counter: counter}, dstB, time.Hour)

	entered, release := dstB.arm()
	bDone := make(chan error, 1)
	go func() {
		_, err := b.SyncSource(t.Context(), "s1") // pulls v and pushes it: the push waits
		bDone <- err
	}()
	<-entered

	rep, err := a.Delete(t.Context(), []string{v}, "a false positive", sharing.ApplyNow())
	require.NoError(t, err)
	require.Equal(t, []string{v}, rep.Values)
	marks, err := a.Marks(t.Context())
	require.NoError(t, err)
	t.Logf("marks right after the delete: %d", len(marks))

	release()
	require.NoError(t, <-bDone)
	require.Contains(t, product.Contents("list"), v, "b's push landed")

	// Later syncs, on both instances, must retract the deleted value.
	for range 3 {
		_, err = a.SyncSource(t.Context(), "s1")
		require.NoError(t, err)
		_, err = b.SyncSource(t.Context(), "s1")
		require.NoError(t, err)
	}
	marks, err = a.Marks(t.Context())
	require.NoError(t, err)
	t.Logf("marks after the syncs: %d; retractions: %d", len(marks), len(product.Retractions()))
	assert.NotContains(t, product.Contents("list"), v, "a deleted value is retracted from the target")
}

// TestStalledWriterIsEnded: an instance stalled in the middle of an Update
// (a VM paused, a network cut) keeps its transaction, and the write lock,
// open: the database ends its session after the stall timeout, and another
// instance's Update then goes through. It waited for hours, until TCP gave
// up, every instance's writes behind it.
func TestStalledWriterIsEnded(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	stalled, err := pgstore.Open(t.Context(), dsn, pgstore.WithStallTimeout(500*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(func() { stalled.Close() })
	other := open(t, dsn)
	inside, block := make(chan struct{}), make(chan struct{})
	var unblock sync.Once
	t.Cleanup(func() { unblock.Do(func() { close(block) }) }) // before the stores close
	stalledErr := make(chan error, 1)
	go func() {
		stalledErr <- stalled.Update(t.Context(), func(tx sharing.Tx) error {
			if err := tx.PutMark(sharing.Mark{Value: storetest.Hash(1), Type: ioc.TypeSHA256, Kind: sharing.MarkSafe, Reason: "stalled"}); err != nil {
				return err
			}
			close(inside)
			<-block // the instance stops here, its transaction open
			return nil
		})
	}()
	<-inside
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	err = other.Update(ctx, func(tx sharing.Tx) error {
		return tx.PutMark(sharing.Mark{Value: storetest.Hash(2), Type: ioc.TypeSHA256, Kind: sharing.MarkSafe, Reason: "other"})
	})
	require.NoError(t, err, "the other instance writes once the stalled session is ended")
	unblock.Do(func() { close(block) })
	require.Error(t, <-stalledErr, "the stalled Update is not committed")
	var marks []string
	require.NoError(t, other.View(t.Context(), func(tx sharing.Tx) error {
		return tx.Marks(func(m sharing.Mark) error { marks = append(marks, m.Reason); return nil })
	}))
	assert.Equal(t, []string{"other"}, marks)
}
