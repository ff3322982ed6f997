package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
)

// Issue 12 item 3: a pull abandoned part way (e.g. on a repeated page token)
// stored some pages, so the sync is partial: exit 3, an error in the audit log,
// and the incomplete pull shown by cte sharing. It used to exit 0.
func TestIncompletePullIsPartial(t *testing.T) {
	t.Parallel()
	w := newFakeWorld(t, twoWay, "a", "b")
	a := w.plugins["a"]
	a.SetPageSize(10)
	a.Feed(hashes(1, 30)...)
	a.FailNextPull(errors.New("mimecast: get feed: page token repeated; the feed was abandoned"))

	code, out, errs := w.cte(t, "sync", "--source", "a")
	assert.Equal(t, exitPartial, code, "stdout:\n%s\nstderr:\n%s", out, errs)
	assert.Contains(t, out, "a: pulled 10 indicators in 1 page (10 new, 0 updated)")
	assert.Contains(t, out, "error: sharing: pull \"a\": mimecast: get feed: page token repeated")
	assert.Len(t, w.plugins["b"].Contents(fakeTarget.ID), 10, "the stored page was shared")

	code, out, errs = w.cte(t, "sharing")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "a: last pull (")
	assert.Contains(t, out, ") incomplete after 1 page: sharing: pull \"a\": mimecast: get feed: page token repeated")

	code, out, errs = w.cte(t, "logs", "--level", "error")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "ERROR sharing: pull \"a\": mimecast: get feed: page token repeated")

	code, out, errs = w.cte(t, "sharing", "--json")
	require.Equal(t, exitOK, code, errs)
	var sj struct {
		Pulls []struct {
			Source    string `json:"source"`
			LastError string `json:"lastError"`
			Pages     int    `json:"pages"`
		} `json:"pulls"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &sj))
	require.Len(t, sj.Pulls, 2)
	assert.Equal(t, "a", sj.Pulls[0].Source)
	assert.Contains(t, sj.Pulls[0].LastError, "page token repeated")
	assert.Equal(t, 1, sj.Pulls[0].Pages)

	// The next pull completes: the table no longer shows it.
	code, _, errs = w.cte(t, "sync", "--source", "a")
	require.Equal(t, exitOK, code, errs)
	_, out, _ = w.cte(t, "sharing")
	assert.NotContains(t, out, "incomplete")
}

// A source that fails before storing anything is a failure (exit 1) when it is
// the only one, and makes a sync of two sources partial (exit 3).
func TestFailedPullExitCodes(t *testing.T) {
	t.Parallel()
	w := newFakeWorld(t, twoWay, "a", "b")
	w.plugins["a"].Feed(hashes(1, 5)...)
	w.plugins["b"].Feed(hashes(100, 5)...)
	w.plugins["a"].set(func(f *flaky) { f.pullErr = errUnavailable })
	code, out, errs := w.cte(t, "sync", "--source", "a")
	assert.Equal(t, exitFailure, code, "stdout:\n%s\nstderr:\n%s", out, errs)
	code, out, errs = w.cte(t, "sync")
	assert.Equal(t, exitPartial, code, "stdout:\n%s\nstderr:\n%s", out, errs)
	assert.Len(t, w.plugins["a"].Contents(fakeTarget.ID), 5, "b's values reached a")
}

// Issue 12 item 4: a destination that cannot list its targets (a 5xx) fails the
// shares to it, and only those: the other direction syncs, and the commands
// that only read state do not ask any product.
func TestUnreachableDestinationDoesNotBlockTheOtherDirection(t *testing.T) {
	t.Parallel()
	w := newFakeWorld(t, twoWay, "a", "b")
	w.plugins["a"].Feed(hashes(1, 5)...)
	w.plugins["b"].Feed(hashes(100, 7)...)
	w.plugins["b"].set(func(f *flaky) { f.targetsErr = errUnavailable })

	code, out, errs := w.cte(t, "sync")
	assert.Equal(t, exitPartial, code, "stdout:\n%s\nstderr:\n%s", out, errs)
	assert.Contains(t, out, "HTTP 503 Service Unavailable")
	assert.Len(t, w.plugins["a"].Contents(fakeTarget.ID), 7, "b → a was shared")
	assert.Empty(t, w.plugins["b"].Contents(fakeTarget.ID))

	for _, cmd := range [][]string{{"iocs"}, {"logs"}} {
		code, _, errs = w.cte(t, cmd...)
		assert.Equal(t, exitOK, code, "%v: %s", cmd, errs)
	}

	// Once b answers again, the next sync delivers what waited.
	w.plugins["b"].set(func(f *flaky) { f.targetsErr = nil })
	code, out, errs = w.cte(t, "sync")
	require.Equal(t, exitOK, code, "stdout:\n%s\nstderr:\n%s", out, errs)
	assert.Len(t, w.plugins["b"].Contents(fakeTarget.ID), 5)
}

// Issue 12 item 4: cte run starts although a product answers 503, and pulls
// again on its interval; on a terminal it prints one line per cycle with the
// next sync time.
func TestRunStartsWhileAProductIsDown(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newFakeWorld(t, runABConfig, "a", "b")
		w.plugins["a"].Feed(hashes(1, 4)...)
		w.plugins["a"].set(func(f *flaky) { f.pullErr = errUnavailable })
		errb, stop := w.startRun(t, true)
		synctest.Wait()
		assert.Equal(t, 1, w.plugins["a"].pullCount(), "the first sync ran at once")
		assert.Contains(t, errb.String(), "a: pulled 0 indicators in 0 pages (0 new, 0 updated); a-to-b: 0 sent, 0 applied; 1 error (cte logs --level error); next sync ")

		w.plugins["a"].set(func(f *flaky) { f.pullErr = nil })
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		assert.Equal(t, 2, w.plugins["a"].pullCount(), "pulled again after the interval")
		assert.Len(t, w.plugins["b"].Contents(fakeTarget.ID), 4)
		assert.Contains(t, errb.String(), "a: pulled 4 indicators in 1 page (4 new, 0 updated); a-to-b: 4 sent, 4 applied; next sync ")
		assert.Equal(t, exitOK, stop())
	})
}

// cte run starts although the destination cannot list its targets, and shares
// to it once it can.
func TestRunStartsWhileADestinationIsDown(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newFakeWorld(t, runABConfig, "a", "b")
		w.plugins["a"].Feed(hashes(1, 4)...)
		w.plugins["b"].set(func(f *flaky) { f.targetsErr = errUnavailable })
		errb, stop := w.startRun(t, false)
		synctest.Wait()
		assert.Empty(t, w.plugins["b"].Contents(fakeTarget.ID))
		w.plugins["b"].set(func(f *flaky) { f.targetsErr = nil })
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		assert.Len(t, w.plugins["b"].Contents(fakeTarget.ID), 4, "shared once b answered; stderr:\n%s", errb.String())
		assert.Equal(t, exitOK, stop())
		assert.Contains(t, errb.String(), "cte: stopped")
	})
}

// Issue 12 item 14: Ctrl-C exits 130, and the interrupted pull is audited at
// INFO, not as errors.
func TestInterruptExits130(t *testing.T) {
	t.Parallel()
	w := newFakeWorld(t, twoWay, "a", "b")
	a := w.plugins["a"]
	a.SetPageSize(2)
	a.Feed(hashes(1, 10)...)
	ctx, cancel := context.WithCancelCause(t.Context())
	// Ctrl-C once the first page is stored: the plugin is reading the next
	// one by then (one page ahead), so the signal comes from the store.
	w.store = &afterMerge{Store: w.store, fn: func() { cancel(errInterrupted) }}
	code, _, errs := w.cteCtx(ctx, "sync")
	assert.Equal(t, exitInterrupted, code, errs)
	assert.Contains(t, errs, "cte: interrupted; what was stored so far is kept")

	code, out, errs := w.cte(t, "logs", "--level", "warn")
	require.Equal(t, exitOK, code, errs)
	assert.Equal(t, "no log entries\n", out, "an interrupt is no warning or error")
	_, out, _ = w.cte(t, "logs")
	assert.Contains(t, out, "INFO  pull of a interrupted after 1 page(s); it resumes after the last stored page")
}

// Issue 12 item 17: the values another source stored first are counted, so
// new + already stored + updated add up to what was pulled.
func TestSyncCountsAddUp(t *testing.T) {
	t.Parallel()
	w := newFakeWorld(t, twoWay, "a", "b")
	w.plugins["a"].Feed(hashes(1, 5)...)
	w.plugins["b"].Feed(hashes(4, 6)...) // 4 and 5 come from a too
	code, out, errs := w.cte(t, "sync", "--source", "a")
	require.Equal(t, exitOK, code, errs)
	code, out, errs = w.cte(t, "sync", "--source", "b", "--json")
	require.Equal(t, exitOK, code, errs)
	var rep []struct {
		Report struct{ Indicators, New, Added, Updated int } `json:"report"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	r := rep[0].Report
	assert.Equal(t, 6, r.Indicators)
	assert.Equal(t, 4, r.New)
	assert.Equal(t, 2, r.Added)
	assert.Equal(t, r.Indicators, r.New+r.Added+r.Updated)
	w.plugins["b"].Feed(hashes(4, 1)...)
	_, out, _ = w.cte(t, "sync", "--source", "b")
	// the same report again, without lastSeen: merged again (its entry
	// ages from when it was stored), not known from the last pull
	assert.Contains(t, out, "b: pulled 1 indicator in 1 page (0 new, 1 updated)")
	dated := hashes(20, 1)
	dated[0].LastSeen = time.Now().UTC().Truncate(time.Second)
	w.plugins["b"].Feed(dated...)
	_, _, _ = w.cte(t, "sync", "--source", "b")
	w.plugins["b"].Feed(dated...)
	_, out, _ = w.cte(t, "sync", "--source", "b")
	assert.Contains(t, out, "b: pulled 1 indicator in 1 page (0 new, 1 updated, of which 1 re-read unchanged)",
		"the same dated report again: known from the last pull, not merged again")
}

// Issue 12 item 20: a plugin that is no sharing configuration's source is not
// pulled, unless pull: true says so.
func TestOnlySourcesArePulled(t *testing.T) {
	t.Parallel()
	oneWay := `plugins:
  a: {type: fake}
  b: {type: fake}
rules:
  all: {filter: all}
sharing:
  - {name: a-to-b, source: a, rule: all, destination: b, target: list/main}
`
	w := newFakeWorld(t, oneWay, "a", "b")
	w.plugins["a"].Feed(hashes(1, 3)...)
	w.plugins["b"].Feed(hashes(100, 3)...)
	code, out, errs := w.cte(t, "sync")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "a: pulled 3 indicators")
	assert.NotContains(t, out, "b: pulled")
	assert.Zero(t, w.plugins["b"].pullCount())

	code, _, errs = w.cte(t, "sync", "--source", "b")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errs, `--source "b" is the source of no sharing configuration, so it is not pulled; set pull: true under plugins.b to pull it anyway`)

	w2 := newFakeWorld(t, strings.Replace(oneWay, "b: {type: fake}", "b: {type: fake, pull: true}", 1), "a", "b")
	w2.plugins["b"].Feed(hashes(100, 3)...)
	code, out, errs = w2.cte(t, "sync")
	require.Equal(t, exitOK, code, errs)
	assert.Contains(t, out, "b: pulled 3 indicators")
	_, out, _ = w2.cte(t, "iocs", "--filter", "source == b")
	assert.Equal(t, 4, strings.Count(out, "\n"), "header and b's three values:\n%s", out)
}

// An interrupt during a push is audited at INFO too (it was two ERRORs: the
// push and the share summary).
func TestInterruptDuringPushIsNoError(t *testing.T) {
	t.Parallel()
	w := newFakeWorld(t, twoWay, "a", "b")
	w.plugins["a"].Feed(hashes(1, 10)...)
	ctx, cancel := context.WithCancelCause(t.Context())
	w.plugins["b"].set(func(f *flaky) { f.beforePush = func() { cancel(errInterrupted) } })
	code, _, errs := w.cteCtx(ctx, "sync")
	assert.Equal(t, exitInterrupted, code, errs)
	code, out, errs := w.cte(t, "logs", "--level", "warn")
	require.Equal(t, exitOK, code, errs)
	assert.Equal(t, "no log entries\n", out, "an interrupt is no warning or error")
	_, out, _ = w.cte(t, "logs")
	assert.Contains(t, out, "INFO  sharing \"a-to-b\": push to b list/main: context canceled")
}

// runABConfig syncs plugin a to plugin b's list every 5 minutes.
const runABConfig = `plugins:
  a: {type: fake, sync_interval: 5m}
  b: {type: fake, sync_interval: 5m}
rules:
  all: {filter: all}
sharing:
  - {name: a-to-b, source: a, rule: all, destination: b, target: list/main}
`

// startRun starts cte run on w (tty: stderr is a terminal) and returns its
// stderr and a function that stops it and returns its exit code.
func (w *fakeWorld) startRun(t *testing.T, tty bool) (*lockedBuffer, func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	var out, errb lockedBuffer
	a := w.app(&out, &errb, tty)
	done := make(chan int)
	go func() { done <- a.exec(ctx, []string{"--config", w.path, "run"}) }()
	return &errb, func() int { cancel(); return <-done }
}

// afterMerge runs fn once, after the first Update that merged a page has
// committed.
type afterMerge struct {
	sharing.Store
	once sync.Once
	fn   func()
}

func (s *afterMerge) Update(ctx context.Context, fn func(sharing.Tx) error) error {
	merged := false
	err := s.Store.Update(ctx, func(tx sharing.Tx) error { return fn(mergeSpy{Tx: tx, merged: &merged}) })
	if err == nil && merged {
		s.once.Do(s.fn)
	}
	return err
}

func (s *afterMerge) Close() error { return nil } // the world's store stays open

// mergeSpy notes that a transaction merged a page.
type mergeSpy struct {
	sharing.Tx
	merged *bool
}

func (t mergeSpy) Merge(source string, in []ioc.Indicator, now time.Time) (sharing.MergeStats, error) {
	*t.merged = true
	return t.Tx.Merge(source, in, now)
}
