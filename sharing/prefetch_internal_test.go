package sharing

import (
	"context"
	"errors"
	"iter"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
)

// scriptPlugin pulls with the function it is given.
type scriptPlugin struct {
	cte.Plugin // nil: only Pull is called
	pull       func(ctx context.Context, yield func(cte.Page, error) bool)
	returned   atomic.Bool // Pull's iterator has returned
}

func (p *scriptPlugin) Pull(ctx context.Context, _ cte.Checkpoint) iter.Seq2[cte.Page, error] {
	return func(yield func(cte.Page, error) bool) {
		defer p.returned.Store(true)
		p.pull(ctx, yield)
	}
}

func page(next string) cte.Page { return cte.Page{Next: cte.Checkpoint(next)} }

// pullAll takes every page of a pull: each page's Next, and what came with it.
func pullAll(pages iter.Seq2[cte.Page, error]) (nexts []string, errs []error) {
	for pg, err := range pages {
		nexts = append(nexts, string(pg.Next))
		errs = append(errs, err)
	}
	return nexts, errs
}

// The plugin reads the next page while the caller still holds this one: done
// one after the other, the caller's wait below would never end, and synctest
// reports the deadlock.
func TestPageAheadReadsTheNextPageWhileOneIsStored(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		reading2 := make(chan struct{})
		p := &scriptPlugin{pull: func(_ context.Context, yield func(cte.Page, error) bool) {
			if !yield(page("1"), nil) {
				return
			}
			close(reading2)
			if !yield(page("2"), nil) {
				return
			}
			yield(page("3"), nil)
		}}
		var got []string
		for pg, err := range pageAhead(t.Context(), p, nil) {
			require.NoError(t, err)
			if string(pg.Next) == "1" {
				<-reading2 // "storing" page 1 until the plugin reads page 2
			}
			got = append(got, string(pg.Next))
		}
		assert.Equal(t, []string{"1", "2", "3"}, got, "in the plugin's order")
		assert.True(t, p.returned.Load())
	})
}

// A caller that stops taking pages (a store error) cancels the plugin's request
// under way, and pageAhead returns only once Pull has: no goroutine is left
// reading a feed.
func TestPageAheadStopCancelsThePlugin(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var sawCancel atomic.Bool
		p := &scriptPlugin{pull: func(ctx context.Context, yield func(cte.Page, error) bool) {
			if !yield(page("1"), nil) {
				return
			}
			<-ctx.Done() // a request that ends when its context does
			sawCancel.Store(true)
			yield(cte.Page{}, ctx.Err())
		}}
		n := 0
		for range pageAhead(t.Context(), p, nil) {
			n++
			break
		}
		assert.Equal(t, 1, n)
		assert.True(t, sawCancel.Load(), "the plugin's context is cancelled")
		assert.True(t, p.returned.Load(), "Pull has returned")
	})
}

func TestPageAheadPassesErrorsInOrder(t *testing.T) {
	t.Parallel()
	boom := errors.New("feed gone")
	p := &scriptPlugin{pull: func(_ context.Context, yield func(cte.Page, error) bool) {
		if !yield(page("1"), nil) {
			return
		}
		yield(cte.Page{}, boom)
	}}
	got, errs := pullAll(pageAhead(t.Context(), p, nil))
	assert.Equal(t, []string{"1", ""}, got)
	assert.Equal(t, []error{nil, boom}, errs)
}

// A plugin that panics in its pull goroutine panics in the caller's, with its
// value and its stack, after the pages read before it.
func TestPageAheadRaisesThePluginsPanic(t *testing.T) {
	t.Parallel()
	p := &scriptPlugin{pull: func(_ context.Context, yield func(cte.Page, error) bool) {
		if !yield(page("1"), nil) {
			return
		}
		panic("parser bug")
	}}
	var got []string
	v := func() (v any) {
		defer func() { v = recover() }()
		for pg := range pageAhead(t.Context(), p, nil) {
			got = append(got, string(pg.Next))
		}
		return nil
	}()
	require.IsType(t, pluginPanic{}, v)
	pp := v.(pluginPanic)
	assert.Equal(t, "parser bug", pp.v)
	assert.True(t, strings.HasPrefix(pp.String(), "parser bug\n"), pp.String())
	assert.Contains(t, pp.String(), "TestPageAheadRaisesThePluginsPanic", "the plugin goroutine's stack")
	assert.NoError(t, pp.Unwrap(), "the value is no error")
	// a panic with an error: a host that recovers it reaches that error
	boom := errors.New("boom")
	var err error = pluginPanic{v: boom}
	assert.ErrorIs(t, err, boom)
	assert.Equal(t, []string{"1"}, got)
}

// A caller that panics while it holds a page still stops the plugin first.
func TestPageAheadCallerPanicStopsThePlugin(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := &scriptPlugin{pull: func(ctx context.Context, yield func(cte.Page, error) bool) {
			for i := 0; yield(page("x"), nil); i++ {
				if i > 2 {
					<-ctx.Done()
				}
			}
		}}
		v := func() (v any) {
			defer func() { v = recover() }()
			for range pageAhead(t.Context(), p, nil) {
				panic("store bug")
			}
			return nil
		}()
		assert.Equal(t, "store bug", v)
		assert.True(t, p.returned.Load(), "Pull has returned")
	})
}

// When the caller's own context ends (Ctrl-C), what the plugin yields then
// still reaches it: a pull cut short must not look complete. (A first
// version dropped it whenever its select saw the context end first: about
// one pull in two.)
func TestPageAheadDeliversTheErrorOfACancelledPull(t *testing.T) {
	t.Parallel()
	for range 100 {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		p := &scriptPlugin{pull: func(ctx context.Context, yield func(cte.Page, error) bool) {
			if !yield(page("1"), nil) {
				return
			}
			<-ctx.Done()
			yield(cte.Page{}, ctx.Err())
		}}
		var errs []error
		for pg, err := range pageAhead(ctx, p, nil) {
			if string(pg.Next) == "1" {
				cancel()
			}
			errs = append(errs, err)
		}
		require.Equal(t, []error{nil, context.Canceled}, errs)
	}
}

// A plugin's pull goroutine that exits without returning (runtime.Goexit,
// which t.FailNow calls in a test plugin) ends the pull with an error, not
// as a complete pull. (Found by a review: the first version reported
// page 1 of 3 as everything.)
func TestPageAheadPluginGoexitIsAnError(t *testing.T) {
	t.Parallel()
	p := &scriptPlugin{pull: func(_ context.Context, yield func(cte.Page, error) bool) {
		if !yield(page("1"), nil) {
			return
		}
		runtime.Goexit()
	}}
	got, errs := pullAll(pageAhead(t.Context(), p, nil))
	assert.Equal(t, []string{"1", ""}, got)
	require.Len(t, errs, 2)
	assert.NoError(t, errs[0])
	assert.ErrorIs(t, errs[1], errPullExited)
}

// Once the caller has stopped, the plugin's next yield returns false, as it
// would without the goroutine: the plugin stops, it is not told to read on.
// (A review found that the first version's cleanup took the pages the plugin
// went on yielding, and about one yield in two returned true.)
func TestPageAheadYieldAfterStopReturnsFalse(t *testing.T) {
	t.Parallel()
	for range 100 {
		var after []bool // what the plugin's yields returned after the caller stopped
		p := &scriptPlugin{pull: func(ctx context.Context, yield func(cte.Page, error) bool) {
			if !yield(page("1"), nil) {
				return
			}
			<-ctx.Done() // still reading page 2 when the caller stops
			for range 3 {
				ok := yield(page("more"), nil)
				after = append(after, ok)
				if !ok {
					return
				}
			}
		}}
		for range pageAhead(t.Context(), p, nil) {
			break
		}
		require.Equal(t, []bool{false}, after)
	}
}
