package sharing_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/plugintest"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/memstore"
)

// leases is an in-memory sharing.Leaser over one memstore, shared by the
// engines of a test as a database is shared by instances.
type leases struct {
	*memstore.Store
	mu sync.Mutex
	m  map[string]sharing.Lease
}

func (l *leases) Acquire(_ context.Context, name, holder string, ttl time.Duration) (sharing.Lease, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	old, ok := l.m[name]
	live := ok && now.Before(old.Expires)
	if live && old.Holder != holder {
		return sharing.Lease{}, false, nil
	}
	token := old.Token
	if !live {
		token++
	}
	nl := sharing.Lease{Name: name, Holder: holder, Token: token, Expires: now.Add(ttl)}
	l.m[name] = nl
	return nl, true, nil
}

func (l *leases) Release(_ context.Context, x sharing.Lease) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if old, ok := l.m[x.Name]; ok && old.Holder == x.Holder && old.Token == x.Token {
		old.Expires = time.Now()
		l.m[x.Name] = old
	}
	return nil
}

func (l *leases) Leases(_ context.Context, prefix string) ([]sharing.Lease, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []sharing.Lease
	for _, x := range l.m {
		if strings.HasPrefix(x.Name, prefix) && time.Now().Before(x.Expires) {
			out = append(out, x)
		}
	}
	slices.SortFunc(out, func(a, b sharing.Lease) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// fenced reports whether every lease ctx carries is still held.
func (l *leases) fenced(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, x := range sharing.LeasesFrom(ctx) {
		cur := l.m[x.Name]
		if cur.Holder != x.Holder || cur.Token != x.Token || !time.Now().Before(cur.Expires) {
			return fmt.Errorf("lease %s: %w", x.Name, sharing.ErrLeaseLost)
		}
	}
	return nil
}

// node is one instance's view of the shared store; a dead node's calls fail,
// as those of a partitioned instance do.
type node struct {
	*leases
	dead atomic.Bool
}

var errDead = errors.New("instance is cut off")

func (n *node) Update(ctx context.Context, fn func(sharing.Tx) error) error {
	if n.dead.Load() {
		return errDead
	}
	return n.leases.Update(ctx, func(tx sharing.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return n.fenced(ctx)
	})
}

func (n *node) View(ctx context.Context, fn func(sharing.Tx) error) error {
	if n.dead.Load() {
		return errDead
	}
	return n.leases.View(ctx, fn)
}

func (n *node) Acquire(ctx context.Context, name, holder string, ttl time.Duration) (sharing.Lease, bool, error) {
	if n.dead.Load() {
		return sharing.Lease{}, false, errDead
	}
	return n.leases.Acquire(ctx, name, holder, ttl)
}

func (n *node) Release(ctx context.Context, x sharing.Lease) error {
	if n.dead.Load() {
		return errDead
	}
	return n.leases.Release(ctx, x)
}

func (n *node) Close() error { return nil }

const (
	leaseInterval = time.Minute
	leaseTTL      = 30 * time.Second
)

func startNode(t *testing.T, shared *leases, name string, fakes map[string]*plugintest.Fake) (*node, *sharing.Engine) {
	n := &node{leases: shared}
	e, err := sharing.New(n, sharing.WithInstance(name, leaseTTL))
	require.NoError(t, err)
	for _, s := range []string{"s1", "s2"} {
		require.NoError(t, e.AddPlugin(s, fakes[s], sharing.SourceSettings{SyncInterval: leaseInterval}))
	}
	require.NoError(t, e.AddPlugin("dst", fakes["dst"], sharing.SourceSettings{PushOnly: true}))
	require.NoError(t, e.AddRule(sharing.Rule{Name: "all"}))
	for _, s := range []string{"s1", "s2"} {
		require.NoError(t, e.AddSharing(t.Context(), sharing.Config{Name: s + "-to-dst", Source: s, Rule: "all", Destination: "dst", Target: "list"}))
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		assert.NoError(t, e.Run(ctx))
	}()
	t.Cleanup(func() { cancel(); <-done })
	return n, e
}

func heldSources(e *sharing.Engine) []string {
	var out []string
	for _, l := range e.HeldLeases() {
		if s, ok := strings.CutPrefix(l.Name, "source/"); ok {
			out = append(out, s)
		}
	}
	return out
}

// Two engines on one Leaser store: each pulls one of the two sources, and
// when one is cut off the other takes its source within one sync interval
// plus the lease time; the cut-off one cannot write any more.
func TestLeasedInstancesShareAndFailOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		shared := &leases{Store: memstore.New(), m: map[string]sharing.Lease{}}
		target := cte.Target{ID: "list", Label: "list", Mode: cte.Append, Types: []ioc.Type{ioc.TypeSHA256}, Limits: cte.Limits{BatchSize: 10}}
		fakes := map[string]*plugintest.Fake{"s1": plugintest.NewFake(), "s2": plugintest.NewFake(), "dst": plugintest.NewFake(target)}
		feed := func(from, to int) {
			for i := from; i < to; i++ {
				fakes[[]string{"s1", "s2"}[i%2]].Feed(ioc.Indicator{Type: ioc.TypeSHA256, Value: fmt.Sprintf("%064x", i+1)})
			}
		}
		feed(0, 40)
		na, a := startNode(t, shared, "a", fakes)
		_, b := startNode(t, shared, "b", fakes)

		time.Sleep(3 * leaseInterval)
		synctest.Wait()
		sa, sb := heldSources(a), heldSources(b)
		require.Len(t, sa, 1, "each instance pulls one source")
		require.Len(t, sb, 1)
		assert.NotEqual(t, sa, sb)
		assert.Len(t, fakes["dst"].Contents("list"), 40)

		na.dead.Store(true) // a is cut off: it can neither renew nor write
		cut := time.Now()
		feed(40, 60)
		for len(heldSources(b)) < 2 {
			time.Sleep(time.Second)
			require.LessOrEqual(t, time.Since(cut), leaseInterval+leaseTTL+time.Second, "b takes a's source within one interval plus the lease")
		}
		time.Sleep(leaseInterval)
		synctest.Wait()
		assert.Len(t, fakes["dst"].Contents("list"), 60, "b shares what a's source brought")

		pushed := map[string]int{}
		for _, c := range fakes["dst"].Pushes() {
			for _, in := range c.Indicators {
				pushed[in.Value]++
			}
		}
		for v, n := range pushed {
			assert.Equal(t, 1, n, "pushed once: %s", v)
		}
		// What a still believes it holds is refused by the fencing check.
		for _, l := range a.HeldLeases() {
			err := shared.fenced(sharing.WithLeases(t.Context(), l))
			if strings.HasPrefix(l.Name, "source/") {
				assert.ErrorIs(t, err, sharing.ErrLeaseLost, l.Name)
			}
		}
	})
}

// A sync outside Run (cte sync) takes the source's lease, and fails when
// another instance holds it.
func TestSyncSourceTakesTheLease(t *testing.T) {
	t.Parallel()
	shared := &leases{Store: memstore.New(), m: map[string]sharing.Lease{}}
	n := &node{leases: shared}
	e, err := sharing.New(n, sharing.WithInstance("me", time.Minute))
	require.NoError(t, err)
	assert.Equal(t, "me", e.Instance())
	require.NoError(t, e.AddPlugin("s1", plugintest.NewFake(), sharing.SourceSettings{}))
	other, ok, err := shared.Acquire(t.Context(), "source/s1", "other", time.Hour)
	require.NoError(t, err)
	require.True(t, ok)
	_, err = e.SyncSource(t.Context(), "s1")
	assert.ErrorContains(t, err, `another cte instance is syncing it (lease source/s1)`)
	require.NoError(t, shared.Release(t.Context(), other))
	_, err = e.SyncSource(t.Context(), "s1")
	require.NoError(t, err)
	ls, err := shared.Leases(t.Context(), "source/")
	require.NoError(t, err)
	assert.Empty(t, ls, "released after the sync")
	assert.Empty(t, e.HeldLeases())

	n.dead.Store(true)
	_, err = e.SyncSource(t.Context(), "s1")
	assert.ErrorIs(t, err, errDead, "a store that cannot lease stops the sync")
}

// lostReply is a node whose Acquire of a target's lease takes it and then
// fails, once, as an Acquire cut off by a stop after the database committed
// it: the stop (stop) comes with it.
type lostReply struct {
	*node
	lost atomic.Bool
	stop func()
}

func (n *lostReply) Acquire(ctx context.Context, name, holder string, ttl time.Duration) (sharing.Lease, bool, error) {
	l, ok, err := n.node.Acquire(ctx, name, holder, ttl)
	if err == nil && ok && strings.HasPrefix(name, "target/") && n.lost.CompareAndSwap(false, true) {
		n.stop()
		return sharing.Lease{}, false, context.Canceled
	}
	return l, ok, err
}

// A stopped instance releases the leases the store says it holds, not only
// those it knows of: a lease whose Acquire lost its answer would otherwise
// keep the other instances off the target until it expired.
func TestStopReleasesALeaseWhoseAnswerWasLost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		shared := &leases{Store: memstore.New(), m: map[string]sharing.Lease{}}
		n := &lostReply{node: &node{leases: shared}}
		target := cte.Target{ID: "list", Label: "list", Mode: cte.Append, Types: []ioc.Type{ioc.TypeSHA256}, Limits: cte.Limits{BatchSize: 10}}
		src, dst := plugintest.NewFake(), plugintest.NewFake(target)
		src.Feed(ioc.Indicator{Type: ioc.TypeSHA256, Value: fmt.Sprintf("%064x", 1)})
		e, err := sharing.New(n, sharing.WithInstance("a", leaseTTL))
		require.NoError(t, err)
		require.NoError(t, e.AddPlugin("s1", src, sharing.SourceSettings{SyncInterval: leaseInterval}))
		require.NoError(t, e.AddPlugin("dst", dst, sharing.SourceSettings{PushOnly: true}))
		require.NoError(t, e.AddRule(sharing.Rule{Name: "all"}))
		require.NoError(t, e.AddSharing(t.Context(), sharing.Config{Name: "s1-to-dst", Source: "s1", Rule: "all", Destination: "dst", Target: "list"}))
		ctx, cancel := context.WithCancel(t.Context())
		n.stop = cancel
		done := make(chan struct{})
		go func() {
			defer close(done)
			assert.NoError(t, e.Run(ctx))
		}()
		<-done
		require.True(t, n.lost.Load(), "the target's lease was taken, its answer lost")
		ls, err := shared.Leases(t.Context(), "")
		require.NoError(t, err)
		assert.Empty(t, ls, "a stopped instance holds no lease")
	})
}

// noList is a node that cannot list leases: the list fails at once, or
// hangs until its context ends.
type noList struct {
	*node
	hang bool
}

func (n *noList) Leases(ctx context.Context, _ string) ([]sharing.Lease, error) {
	if n.hang {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return nil, errors.New("cannot list")
}

// Release fails once its context has ended, as a database's does.
func (n *noList) Release(ctx context.Context, x sharing.Lease) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return n.node.Release(ctx, x)
}

// A stop that cannot list the store's leases, at once or before its time is
// up, still releases those the instance knows it holds.
func TestStopReleasesKnownLeasesWhenTheListFails(t *testing.T) {
	for _, hang := range []bool{false, true} {
		t.Run(fmt.Sprintf("hang=%v", hang), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				shared := &leases{Store: memstore.New(), m: map[string]sharing.Lease{}}
				e, err := sharing.New(&noList{&node{leases: shared}, hang}, sharing.WithInstance("a", leaseTTL))
				require.NoError(t, err)
				require.NoError(t, e.AddPlugin("s1", plugintest.NewFake(), sharing.SourceSettings{SyncInterval: leaseInterval}))
				ctx, cancel := context.WithCancel(t.Context())
				done := make(chan struct{})
				go func() {
					defer close(done)
					assert.NoError(t, e.Run(ctx))
				}()
				time.Sleep(leaseInterval / 2)
				synctest.Wait()
				require.NotEmpty(t, e.HeldLeases(), "the source's lease is held")
				cancel()
				<-done
				ls, err := shared.Leases(t.Context(), "")
				require.NoError(t, err)
				assert.Empty(t, ls, "released")
			})
		})
	}
}

// heldPull is a source whose Pull, once it has closed entered (at at),
// waits until release is closed, then reads the fake, or until its context
// ends.
type heldPull struct {
	*plugintest.Fake
	entered, release chan struct{}
	at               time.Time
}

// syncHeld starts a sync of source s1, a heldPull, on an engine over st
// with leases of 3 s, and returns once its Pull has started; done gets the
// sync's error.
func syncHeld(t *testing.T, st sharing.Store) (*sharing.Engine, *heldPull, <-chan error) {
	t.Helper()
	e, err := sharing.New(st, sharing.WithInstance("me", 3*time.Second))
	require.NoError(t, err)
	src := newHeldPull()
	require.NoError(t, e.AddPlugin("s1", src, sharing.SourceSettings{}))
	done := make(chan error, 1)
	go func() {
		_, err := e.SyncSource(t.Context(), "s1")
		done <- err
	}()
	<-src.entered
	return e, src, done
}

func newHeldPull() *heldPull {
	return &heldPull{Fake: plugintest.NewFake(), entered: make(chan struct{}), release: make(chan struct{})}
}

func (p *heldPull) Pull(ctx context.Context, from cte.Checkpoint) iter.Seq2[cte.Page, error] {
	return func(yield func(cte.Page, error) bool) {
		p.at = time.Now()
		close(p.entered)
		select {
		case <-p.release:
		case <-ctx.Done():
			yield(cte.Page{}, ctx.Err())
			return
		}
		for pg, err := range p.Fake.Pull(ctx, from) {
			if !yield(pg, err) {
				return
			}
		}
	}
}

// TestHeldLeaseShowsItsRenewal: a lease renewed while a long sync works
// under it is shown (HeldLeases, the console's expiry gauge) with its new
// expiry, not the one it was taken with, which had passed.
func TestHeldLeaseShowsItsRenewal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		shared := &leases{Store: memstore.New(), m: map[string]sharing.Lease{}}
		e, src, done := syncHeld(t, &node{leases: shared})
		expiry := func() time.Time {
			for _, l := range e.HeldLeases() {
				if l.Name == "source/s1" {
					return l.Expires
				}
			}
			return time.Time{}
		}
		first := expiry()
		require.False(t, first.IsZero())
		time.Sleep(5 * time.Second) // fake time: renewed every second
		synctest.Wait()
		assert.True(t, expiry().After(first.Add(time.Second)), "held %v, taken with %v", expiry(), first)
		close(src.release)
		require.NoError(t, <-done)
	})
}

// unreachable is a node whose lease renewals fail once cut: the database is
// out of reach while the product is not.
type unreachable struct {
	*node
	cut atomic.Bool
}

func (n *unreachable) Acquire(ctx context.Context, name, holder string, ttl time.Duration) (sharing.Lease, bool, error) {
	if n.cut.Load() {
		return sharing.Lease{}, false, errDead
	}
	return n.node.Acquire(ctx, name, holder, ttl)
}

// TestWorkStopsWhenTheLeaseCannotBeRenewed: a sync whose lease renewals
// fail stops once the lease may have run out: another instance may hold it
// by then, and the work on the product's side (a push, a Netskope "next")
// is not this instance's any more. It went on while every renewal failed.
func TestWorkStopsWhenTheLeaseCannotBeRenewed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		shared := &leases{Store: memstore.New(), m: map[string]sharing.Lease{}}
		n := &unreachable{node: &node{leases: shared}}
		_, src, done := syncHeld(t, n)
		n.cut.Store(true)
		var err error
		select { // fake time: it runs while every goroutine waits
		case err = <-done:
		case <-time.After(time.Minute):
			t.Fatal("still syncing a minute after its lease ran out")
		}
		require.Error(t, err)
		assert.GreaterOrEqual(t, time.Since(src.at), 3*time.Second, "not before the lease may have run out")
	})
}
