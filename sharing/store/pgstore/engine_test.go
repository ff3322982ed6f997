package pgstore_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/internal/pgtest"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/plugintest"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/storetest"
)

// instance is one engine of a test "cluster": its own store connections, the
// shared fake products.
type instance struct {
	e    *sharing.Engine
	stop context.CancelFunc
	done chan struct{}
}

func startInstance(t *testing.T, dsn, name string, products map[string]*plugintest.Fake) *instance {
	t.Helper()
	s := open(t, dsn)
	e, err := sharing.New(s, sharing.WithInstance(name, 2*time.Second), sharing.WithLogger(slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError})).With("instance", name)))
	require.NoError(t, err)
	for _, n := range []string{"s1", "s2"} {
		require.NoError(t, e.AddPlugin(n, products[n], sharing.SourceSettings{SyncInterval: 20 * time.Millisecond}))
	}
	require.NoError(t, e.AddPlugin("dst", products["dst"], sharing.SourceSettings{PushOnly: true}))
	require.NoError(t, e.AddRule(sharing.Rule{Name: "all"}))
	for _, n := range []string{"s1", "s2"} {
		require.NoError(t, e.AddSharing(t.Context(), sharing.Config{Name: n + "-to-dst", Source: n, Rule: "all", Destination: "dst", Target: "list"}))
	}
	ctx, cancel := context.WithCancel(t.Context())
	in := &instance{e: e, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(in.done)
		assert.NoError(t, e.Run(ctx))
	}()
	t.Cleanup(func() { cancel(); <-in.done })
	return in
}

func (in *instance) sources() []string {
	var out []string
	for _, l := range in.e.HeldLeases() {
		if s, ok := strings.CutPrefix(l.Name, "source/"); ok {
			out = append(out, s)
		}
	}
	return out
}

// Two instances on one database with two sources: each pulls one source, the
// shared target gets everything once, and when one stops the other takes its
// source over.
func TestTwoInstancesShareTheWork(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	target := cte.Target{ID: "list", Label: "list", Mode: cte.Append, Types: []ioc.Type{ioc.TypeSHA256}, Limits: cte.Limits{BatchSize: 50}}
	products := map[string]*plugintest.Fake{"s1": plugintest.NewFake(), "s2": plugintest.NewFake(), "dst": plugintest.NewFake(target)}
	var want []string
	for i := range 400 {
		src := products["s1"]
		if i%2 == 1 {
			src = products["s2"]
		}
		src.Feed(ioc.Indicator{Type: ioc.TypeSHA256, Value: storetest.Hash(i), Severity: ioc.SeverityHigh})
		want = append(want, storetest.Hash(i))
	}
	slices.Sort(want)

	a := startInstance(t, dsn, "a", products)
	b := startInstance(t, dsn, "b", products)
	require.Eventually(t, func() bool {
		sa, sb := a.sources(), b.sources()
		return len(sa) == 1 && len(sb) == 1 && sa[0] != sb[0]
	}, time.Minute, 10*time.Millisecond, "each instance ends up with one source")
	require.Eventually(t, func() bool { return slices.Equal(want, products["dst"].Contents("list")) },
		time.Minute, 10*time.Millisecond, "the target gets both sources' indicators")

	// Values fed later arrive through both instances, and each goes once.
	for i := 400; i < 500; i++ {
		products[[]string{"s1", "s2"}[i%2]].Feed(ioc.Indicator{Type: ioc.TypeSHA256, Value: storetest.Hash(i)})
		want = append(want, storetest.Hash(i))
	}
	slices.Sort(want)
	require.Eventually(t, func() bool { return slices.Equal(want, products["dst"].Contents("list")) },
		time.Minute, 10*time.Millisecond)

	assert.Zero(t, duplicates(t, products["dst"]), "two instances working push no value twice")

	// a stops: b takes its source over.
	a.stop()
	<-a.done
	require.Eventually(t, func() bool { return len(b.sources()) == 2 }, time.Minute, 10*time.Millisecond,
		"the remaining instance syncs both sources")
	for i := 500; i < 520; i++ {
		products[[]string{"s1", "s2"}[i%2]].Feed(ioc.Indicator{Type: ioc.TypeSHA256, Value: storetest.Hash(i)})
		want = append(want, storetest.Hash(i))
	}
	slices.Sort(want)
	require.Eventually(t, func() bool { return slices.Equal(want, products["dst"].Contents("list")) },
		time.Minute, 10*time.Millisecond)

	t.Logf("%d duplicate pushes after one instance stopped", duplicates(t, products["dst"]))
}

// duplicates counts the pushes of values pushed before.
func duplicates(t *testing.T, f *plugintest.Fake) int {
	pushed := map[string]int{}
	for _, c := range f.Pushes() {
		for _, in := range c.Indicators {
			pushed[in.Value]++
		}
	}
	dups := 0
	for v, n := range pushed {
		if n > 1 {
			t.Logf("%s pushed %d times", v[:12], n)
		}
		dups += n - 1
	}
	return dups
}

// cte sync beside a running instance refuses a source the instance holds.
func TestSyncSourceRefusesAHeldSource(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	s := open(t, dsn)
	lease, ok, err := s.Acquire(t.Context(), "source/s1", "other", time.Hour)
	require.NoError(t, err)
	require.True(t, ok)
	e, err := sharing.New(s, sharing.WithInstance("me", time.Minute))
	require.NoError(t, err)
	require.NoError(t, e.AddPlugin("s1", plugintest.NewFake(), sharing.SourceSettings{}))
	_, err = e.SyncSource(t.Context(), "s1")
	require.ErrorContains(t, err, "another cte instance is syncing it")
	require.NoError(t, s.Release(t.Context(), lease))
	_, err = e.SyncSource(t.Context(), "s1")
	require.NoError(t, err, "free again")
	assert.Empty(t, e.HeldLeases(), "the lease of a manual sync is released after it")
}
