package sharing_test

import (
	"context"
	"iter"
	"slices"
	"strconv"
	"sync"
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

// rereadPlugin answers every pull with the same pages, whatever the
// checkpoint: a product whose plugin re-reads an overlap, here all of it.
// before, when set, runs before page i (from 0) of every pull: before page 0
// after the pull read its memo, before page i > 0 while the engine may still
// be storing page i-1 (it reads one page ahead).
type rereadPlugin struct {
	*plugintest.Fake
	mu     sync.Mutex
	pages  [][]ioc.Indicator
	before func(i int)
}

func (p *rereadPlugin) setPages(pages ...[]ioc.Indicator) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pages = pages
}

func (p *rereadPlugin) Pull(ctx context.Context, _ cte.Checkpoint) iter.Seq2[cte.Page, error] {
	p.mu.Lock()
	pages := slices.Clone(p.pages)
	p.mu.Unlock()
	return func(yield func(cte.Page, error) bool) {
		for i, in := range pages {
			if p.before != nil {
				p.before(i)
			}
			if !yield(cte.Page{Indicators: slices.Clone(in), Next: cte.Checkpoint(strconv.Itoa(i + 1))}, nil) {
				return
			}
		}
	}
}

type rereadWorld struct {
	store sharing.Store
	eng   *sharing.Engine
	clock *engClock
	feed  *rereadPlugin
}

func newRereadWorld(t *testing.T, s sharing.Store, aging time.Duration) *rereadWorld {
	t.Helper()
	w := &rereadWorld{store: s, clock: &engClock{now: engStart}, feed: &rereadPlugin{Fake: plugintest.NewFake(blockTarget)}}
	t.Cleanup(func() { _ = s.Close() })
	eng, err := sharing.New(s, sharing.WithClock(w.clock.Now))
	require.NoError(t, err)
	require.NoError(t, eng.AddPlugin("feed", w.feed, sharing.SourceSettings{SyncInterval: 10 * time.Minute, Aging: aging}))
	w.eng = eng
	return w
}

func (w *rereadWorld) sync(t *testing.T) sharing.SyncReport {
	t.Helper()
	rep, err := w.eng.SyncSource(t.Context(), "feed")
	require.NoError(t, err)
	return rep
}

func (w *rereadWorld) entry(t *testing.T, value string) sharing.Entry {
	t.Helper()
	var en sharing.Entry
	require.NoError(t, w.store.View(t.Context(), func(tx sharing.Tx) error {
		r, ok, err := tx.Record(value)
		require.True(t, ok, "record of %s", value)
		e, ok := r.Entry("feed")
		require.True(t, ok)
		en = *e
		return err
	}))
	return en
}

// A pull that re-reads reports an earlier pull stored does not merge them
// again: the entries stay as they are (StoredAt included), the reports
// count as updated and as known. A report that changed, or a value never
// seen, is merged as always.
func TestRereadSkipsKnownReports(t *testing.T) {
	t.Parallel()
	w := newRereadWorld(t, memstore.New(), 30*24*time.Hour)
	p1 := engInds("a", 10, ioc.SeverityHigh, engStart)
	p2 := engInds("b", 10, ioc.SeverityHigh, engStart.Add(time.Minute))
	w.feed.setPages(p1, p2)
	rep := w.sync(t)
	assert.Equal(t, 20, rep.New)
	assert.Equal(t, 0, rep.Known, "no memo before the first pull")
	first := w.entry(t, p2[3].Value)

	w.clock.Advance(10 * time.Minute)
	changed := p2[0]
	changed.Tags = []string{"late"}
	fresh := engInd("c", 0, ioc.SeverityHigh, engStart.Add(2*time.Minute))
	w.feed.setPages(p1, append(slices.Clone(p2), changed, fresh))
	rep = w.sync(t)
	assert.Equal(t, 22, rep.Indicators)
	assert.Equal(t, 20, rep.Known, "the reports stored by the first pull")
	assert.Equal(t, 21, rep.Updated, "known reports and the changed one")
	assert.Equal(t, 1, rep.New)
	assert.Equal(t, first, w.entry(t, p2[3].Value), "a known report is not merged again: StoredAt stays")
	en := w.entry(t, changed.Value)
	assert.Equal(t, []string{"late"}, en.Tags, "a changed report is merged")
	assert.Equal(t, w.clock.Now(), en.StoredAt)
	assert.Equal(t, w.clock.Now(), w.entry(t, fresh.Value).StoredAt)

	w.clock.Advance(10 * time.Minute)
	rep = w.sync(t)
	assert.Equal(t, 22, rep.Known, "the second pull's reports, the changed one included")
	assert.Equal(t, 0, rep.New)
}

// An operator's edit changes the source behind the memo's back: the next
// pull merges everything it reads, as without a memo (here, the re-read
// report brings back the tag the operator removed).
func TestRereadAfterAnEditMergesAll(t *testing.T) {
	t.Parallel()
	w := newRereadWorld(t, memstore.New(), 30*24*time.Hour)
	in := engInds("a", 5, ioc.SeverityHigh, engStart)
	in[0].Tags = []string{"phish"}
	w.feed.setPages(in)
	w.sync(t)
	_, err := w.eng.Untag(t.Context(), []string{in[0].Value}, []string{"phish"})
	require.NoError(t, err)
	require.Empty(t, w.entry(t, in[0].Value).Tags)

	w.clock.Advance(10 * time.Minute)
	rep := w.sync(t)
	assert.Equal(t, 0, rep.Known, "the edit ended the memo")
	assert.Equal(t, []string{"phish"}, w.entry(t, in[0].Value).Tags)
	rep = w.sync(t)
	assert.Equal(t, 5, rep.Known, "the pull after it wrote a new memo")
}

// An aging pass keeps the memo: the reports of the values it marked
// inactive leave it (merged again, they make their entries active, as
// without a memo), the others stay known.
func TestRereadThroughAging(t *testing.T) {
	t.Parallel()
	w := newRereadWorld(t, memstore.New(), time.Hour)
	old := engInd("old", 0, ioc.SeverityHigh, engStart.Add(-3*time.Hour))
	recent := engInds("new", 4, ioc.SeverityHigh, engStart)
	w.feed.setPages(append([]ioc.Indicator{old}, recent...))
	rep := w.sync(t)
	require.Equal(t, 1, rep.Inactive, "the old report aged out in the same sync")
	require.True(t, w.entry(t, old.Value).Inactive)

	w.clock.Advance(10 * time.Minute)
	rep = w.sync(t)
	assert.Equal(t, 4, rep.Known, "the memo outlived the aging pass")
	assert.Equal(t, 1, rep.Inactive, "the old report, merged again, was active again and aged again")
}

// A page whose store failed is not in the memo: the next pull merges it.
func TestRereadFailedPageIsNotKnown(t *testing.T) {
	t.Parallel()
	fs := &faultyStore{Store: memstore.New(), fail: map[string]bool{}}
	w := newRereadWorld(t, fs, 30*24*time.Hour)
	p1 := engInds("a", 5, ioc.SeverityHigh, engStart)
	p2 := engInds("b", 5, ioc.SeverityHigh, engStart)
	w.feed.setPages(p1, p2)
	fs.failNthMerge(2) // page 2's
	_, err := w.eng.SyncSource(t.Context(), "feed")
	require.ErrorIs(t, err, errDisk)

	fs.failNthMerge(0)
	rep := w.sync(t)
	assert.Equal(t, 5, rep.Known, "the first page only")
	assert.Equal(t, 5, rep.New, "the page that failed is merged now")
}

// Another writer that changes the source in the middle of a pull (here an
// operator's edit after the pull read the memo) ends the memo's use at once:
// the page is merged whole, as without a memo, and the pull leaves no memo.
func TestRereadWriterDuringPull(t *testing.T) {
	t.Parallel()
	w := newRereadWorld(t, memstore.New(), 30*24*time.Hour)
	p1 := engInds("a", 5, ioc.SeverityHigh, engStart)
	p1[0].Tags = []string{"phish"}
	p2 := engInds("b", 5, ioc.SeverityHigh, engStart)
	w.feed.setPages(p1, p2)
	w.sync(t)

	w.feed.before = func(i int) {
		if i == 0 {
			_, err := w.eng.Untag(context.Background(), []string{p1[0].Value}, []string{"phish"})
			assert.NoError(t, err)
		}
	}
	rep := w.sync(t)
	w.feed.before = nil
	assert.Equal(t, 0, rep.Known, "the edit came after the memo was read: both pages merged whole")
	assert.Equal(t, []string{"phish"}, w.entry(t, p1[0].Value).Tags, "the re-read report merged again, as without a memo")
	assert.Equal(t, 0, w.sync(t).Known, "the pull left no memo")
	assert.Equal(t, 10, w.sync(t).Known)
}

// A memo the store cannot write does not take the pull's audit entry and
// run state with it: they are stored without it, and the next pull merges
// everything.
func TestRereadMemoWriteFails(t *testing.T) {
	t.Parallel()
	fs := &faultyStore{Store: memstore.New(), fail: map[string]bool{}}
	w := newRereadWorld(t, fs, 30*24*time.Hour)
	w.feed.setPages(engInds("a", 5, ioc.SeverityHigh, engStart))
	fs.set("PutRunState reread/feed", true)
	w.sync(t)
	logs, err := w.eng.Logs(t.Context(), sharing.LogFilter{Config: "feed"})
	require.NoError(t, err)
	require.NotEmpty(t, logs)
	assert.Contains(t, logs[0].Message, "pulled 5 indicator(s)")
	require.NoError(t, fs.View(t.Context(), func(tx sharing.Tx) error {
		rs, ok, err := tx.RunState("source/feed")
		assert.True(t, ok, "the pull's run state")
		assert.Equal(t, 5, rs.Counts["indicators"])
		return err
	}))
	fs.set("PutRunState reread/feed", false)
	assert.Equal(t, 0, w.sync(t).Known, "no memo was written")
	assert.Equal(t, 5, w.sync(t).Known)
}

// A report without LastSeen is merged at every pull, known or not: its entry
// ages from StoredAt, which only a Merge moves, so a source that keeps
// reporting it keeps it active.
func TestRereadWithoutLastSeenIsMerged(t *testing.T) {
	t.Parallel()
	w := newRereadWorld(t, memstore.New(), time.Hour)
	undated := ioc.Indicator{Type: ioc.TypeSHA256, Value: engHash("u", 0), Severity: ioc.SeverityHigh}
	dated := engInds("d", 2, ioc.SeverityHigh, engStart.Add(2*time.Hour)) // not aged within the test
	w.feed.setPages(append([]ioc.Indicator{undated}, dated...))
	for cycle := range 9 {
		rep := w.sync(t)
		if cycle > 0 {
			assert.Equal(t, 2, rep.Known, "cycle %d: the dated reports only", cycle)
		}
		en := w.entry(t, undated.Value)
		assert.False(t, en.Inactive, "cycle %d: reported every 10 minutes, never aged out", cycle)
		assert.Equal(t, w.clock.Now(), en.StoredAt, "cycle %d", cycle)
		w.clock.Advance(10 * time.Minute)
	}
}

// A pull that changes nothing leaves the stored memo as it is: it would
// write the same reports at the same version again.
func TestRereadUnchangedMemoIsNotWritten(t *testing.T) {
	t.Parallel()
	w := newRereadWorld(t, memstore.New(), 30*24*time.Hour)
	w.feed.setPages(engInds("a", 5, ioc.SeverityHigh, engStart))
	w.sync(t)
	memoAt := func() time.Time {
		var at time.Time
		require.NoError(t, w.store.View(t.Context(), func(tx sharing.Tx) error {
			rs, ok, err := tx.RunState("reread/feed")
			require.True(t, ok)
			at = rs.LastRun
			return err
		}))
		return at
	}
	first := memoAt()
	w.clock.Advance(10 * time.Minute)
	assert.Equal(t, 5, w.sync(t).Known)
	assert.Equal(t, first, memoAt(), "not written again")
	w.clock.Advance(10 * time.Minute)
	w.feed.setPages(engInds("a", 6, ioc.SeverityHigh, engStart))
	assert.Equal(t, 5, w.sync(t).Known)
	assert.Equal(t, w.clock.Now(), memoAt(), "a new report: written")
	assert.Equal(t, 6, w.sync(t).Known)
}
