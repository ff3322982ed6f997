package sharing_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/boltstore"
	"github.com/ctexchange/cte/sharing/store/memstore"
)

func TestList(t *testing.T) {
	t.Parallel()
	w := newEngWorld(t)
	ctx := t.Context()
	// 30 values: severity cycles low, medium, high; lastSeen i hours after the start
	var in []ioc.Indicator
	for i := range 30 {
		in = append(in, engInd("l", i, ioc.Severity(1+i%3), engStart.Add(time.Duration(i)*time.Hour)))
	}
	w.ns.Feed(in...)
	_, err := w.eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	_, err = w.eng.MarkSafe(ctx, []string{engHash("l", 29)}, "fp")
	require.NoError(t, err)

	page, err := w.eng.List(ctx, sharing.ListOptions{Sort: sharing.SortLastSeen, Limit: 5})
	require.NoError(t, err)
	assert.Equal(t, 30, page.Total)
	require.Len(t, page.Items, 5)
	assert.Equal(t, engHash("l", 29), page.Items[0].Value, "most recent first")
	assert.Equal(t, engHash("l", 25), page.Items[4].Value)
	require.NotNil(t, page.Items[0].Mark)
	assert.Equal(t, "fp", page.Items[0].Mark.Reason)
	assert.True(t, page.Items[0].Active)
	assert.Equal(t, engStart.Add(29*time.Hour), page.Items[0].LastSeen)

	// the cached listing is dropped when a record changes
	_, err = w.eng.AddIndicators(ctx, []sharing.NewIndicator{{Value: "new.example"}})
	require.NoError(t, err)
	page, err = w.eng.List(ctx, sharing.ListOptions{Sort: sharing.SortLastSeen, Limit: 5})
	require.NoError(t, err)
	assert.Equal(t, 31, page.Total)
	_, err = w.eng.Delete(ctx, []string{"new.example"}, "test")
	require.NoError(t, err)
	// AllowStale answers from before the change, and computes it again
	page, err = w.eng.List(ctx, sharing.ListOptions{Sort: sharing.SortLastSeen, Limit: 5, AllowStale: true})
	require.NoError(t, err)
	assert.True(t, page.Stale)
	assert.Equal(t, 31, page.Total, "the order of before the delete")
	assert.Len(t, page.Items, 5)
	assert.NotContains(t, listValues(page), "new.example", "the records are read now: a deleted one is left out")
	require.Eventually(t, func() bool {
		page, err = w.eng.List(ctx, sharing.ListOptions{Sort: sharing.SortLastSeen, Limit: 5, AllowStale: true})
		return err == nil && !page.Stale
	}, 10*time.Second, 5*time.Millisecond)
	assert.Equal(t, 30, page.Total)

	page, err = w.eng.List(ctx, sharing.ListOptions{Sort: sharing.SortLastSeen, Offset: 25, Limit: 10})
	require.NoError(t, err)
	require.Len(t, page.Items, 5, "the last page is short")
	assert.Equal(t, engHash("l", 0), page.Items[4].Value)

	page, err = w.eng.List(ctx, sharing.ListOptions{Sort: sharing.SortSeverity, Query: "severity >= high", Limit: 3})
	require.NoError(t, err)
	assert.Equal(t, 10, page.Total)
	assert.Equal(t, []string{engHash("l", 29), engHash("l", 26), engHash("l", 23)}, listValues(page))

	page, err = w.eng.List(ctx, sharing.ListOptions{Limit: 1000}) // value order
	require.NoError(t, err)
	vs := listValues(page)
	assert.IsIncreasing(t, vs)
	assert.Equal(t, 30, page.Total, "the scan reached the end: counted")
	assert.False(t, page.More)
	page, err = w.eng.List(ctx, sharing.ListOptions{Offset: 10, Limit: 2})
	require.NoError(t, err)
	assert.Equal(t, vs[10:12], listValues(page))
	assert.Equal(t, -1, page.Total, "stopped after the page: not counted")
	assert.True(t, page.More)

	// 30 days and 10 hours later the first ten are past netskope's 30-day aging
	w.clock.Advance(30*24*time.Hour + 10*time.Hour)
	page, err = w.eng.List(ctx, sharing.ListOptions{State: sharing.ListActive})
	require.NoError(t, err)
	assert.Equal(t, 20, page.Total)
	page, err = w.eng.List(ctx, sharing.ListOptions{State: sharing.ListInactive, Sort: sharing.SortLastSeen, Limit: 1})
	require.NoError(t, err)
	assert.Equal(t, 10, page.Total)
	assert.False(t, page.Items[0].Active)

	for name, o := range map[string]sharing.ListOptions{
		"bad query":  {Query: "severity >"},
		"bad sort":   {Sort: "size"},
		"bad state":  {State: "gone"},
		"big limit":  {Limit: sharing.MaxListLimit + 1},
		"neg limit":  {Limit: -1},
		"too deep":   {Offset: sharing.MaxListDepth},
		"neg offset": {Offset: -1},
	} {
		_, err := w.eng.List(ctx, o)
		assert.Error(t, err, name)
	}
}

func listValues(p sharing.IndicatorPage) []string {
	out := make([]string, len(p.Items))
	for i, x := range p.Items {
		out[i] = x.Value
	}
	return out
}

// BenchmarkListPage1M lists one page of 50 of 1M stored indicators: sorted by
// lastSeen with a filter matching about a third, and in value order.
func BenchmarkListPage1M(b *testing.B) {
	const n = 1_000_000
	in := make([]ioc.Indicator, n)
	for i := range in {
		in[i] = engInd("b", i, ioc.Severity(2+i%3), engStart.Add(time.Duration(i)*time.Second))
	}
	stores := map[string]func(b *testing.B) sharing.Store{
		"memstore": func(*testing.B) sharing.Store { return memstore.New() },
		"boltstore": func(b *testing.B) sharing.Store {
			dir := os.Getenv("CTE_BENCH_DIR")
			if dir == "" {
				dir = b.TempDir()
			}
			s, err := boltstore.Open(filepath.Join(dir, fmt.Sprintf("list-%d.db", time.Now().UnixNano())))
			require.NoError(b, err)
			return s
		},
	}
	for _, name := range []string{"memstore", "boltstore"} {
		b.Run(name, func(b *testing.B) {
			s := stores[name](b)
			defer s.Close()
			ctx := b.Context()
			for i := 0; i < n; i += 50_000 {
				require.NoError(b, s.Update(ctx, func(tx sharing.Tx) error {
					_, err := tx.Merge("netskope", in[i:i+50_000], engStart)
					return err
				}))
			}
			eng, err := sharing.New(s, sharing.WithClock(func() time.Time { return engStart }))
			require.NoError(b, err)
			_, err = eng.List(ctx, sharing.ListOptions{}) // the store's first read after the load (memstore sorts its index)
			require.NoError(b, err)
			for _, c := range []struct {
				name  string
				o     sharing.ListOptions
				fresh bool // a record changed before each page: the listing is computed again
			}{
				{"lastSeen-first", sharing.ListOptions{Sort: sharing.SortLastSeen, Query: "severity >= high"}, true},
				{"lastSeen-next", sharing.ListOptions{Sort: sharing.SortLastSeen, Query: "severity >= high", Offset: 50}, false},
				{"lastSeen-stale", sharing.ListOptions{Sort: sharing.SortLastSeen, Query: "severity >= high", AllowStale: true}, true},
				{"value-first", sharing.ListOptions{Sort: sharing.SortValue}, false},
				{"value-deep", sharing.ListOptions{Sort: sharing.SortValue, Offset: 5000}, false},
			} {
				b.Run(c.name, func(b *testing.B) {
					for b.Loop() {
						if c.fresh {
							sharing.RecordsChanged(eng)
						}
						p, err := eng.List(ctx, c.o)
						if err != nil || len(p.Items) != 50 {
							b.Fatal(err, len(p.Items))
						}
					}
				})
			}
		})
	}
}
