package sharing_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/plugintest"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/memstore"
)

const day = 24 * time.Hour

// seedLogs stores one Info entry per age (before now), with the age as message.
func seedLogs(t *testing.T, s sharing.Store, now time.Time, ages ...time.Duration) {
	t.Helper()
	require.NoError(t, s.Update(t.Context(), func(tx sharing.Tx) error {
		for _, a := range ages {
			if err := tx.Log(sharing.AuditEntry{Time: now.Add(-a), Level: slog.LevelInfo, Config: "src", Message: a.String()}); err != nil {
				return err
			}
		}
		return nil
	}))
}

func allLogs(t *testing.T, eng *sharing.Engine) []sharing.AuditEntry {
	t.Helper()
	out, err := eng.Logs(t.Context(), sharing.LogFilter{MinLevel: slog.LevelDebug})
	require.NoError(t, err)
	return out
}

// pruneNotes returns the entries a prune wrote.
func pruneNotes(es []sharing.AuditEntry) []sharing.AuditEntry {
	var out []sharing.AuditEntry
	for _, e := range es {
		if strings.HasPrefix(e.Message, "deleted ") {
			out = append(out, e)
		}
	}
	return out
}

func TestPruneLogsDeletesOlderThanRetention(t *testing.T) {
	t.Parallel()
	clock := &engClock{now: engStart}
	store := memstore.New()
	t.Cleanup(func() { _ = store.Close() })
	var logBuf bytes.Buffer
	eng, err := sharing.New(store, sharing.WithClock(clock.Now), sharing.WithLogRetention(30*day),
		sharing.WithLogger(slog.New(slog.NewTextHandler(&logBuf, nil))))
	require.NoError(t, err)
	seedLogs(t, store, engStart, 40*day, 31*day, 30*day, 29*day, time.Hour)

	n, err := eng.PruneLogs(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 2, n, "older than 30 days; exactly 30 days is kept")
	got := allLogs(t, eng)
	require.Len(t, got, 4)
	assert.Equal(t, []string{(30 * day).String(), (29 * day).String(), time.Hour.String()},
		[]string{got[0].Message, got[1].Message, got[2].Message})
	note := got[3]
	assert.Equal(t, "deleted 2 audit entries older than 2026-10-03T09:00:00Z (log retention 720h0m0s)", note.Message)
	assert.Equal(t, map[string]string{"deleted": "2", "cutoff": "2026-10-03T09:00:00Z", "retention": "720h0m0s"}, note.Details)
	assert.Equal(t, slog.LevelInfo, note.Level)
	assert.Equal(t, engStart, note.Time)
	assert.Contains(t, logBuf.String(), "deleted 2 audit entries", "the note goes to the logger too")

	// Nothing more to delete: no second note.
	n, err = eng.PruneLogs(t.Context())
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Len(t, allLogs(t, eng), 4)

	// A day later the 30-day-old entry goes.
	clock.Advance(day)
	n, err = eng.PruneLogs(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Len(t, pruneNotes(allLogs(t, eng)), 2)
}

func TestPruneLogsDefaultAndZero(t *testing.T) {
	t.Parallel()
	clock := &engClock{now: engStart}
	store := memstore.New()
	t.Cleanup(func() { _ = store.Close() })
	seedLogs(t, store, engStart, 91*day, 89*day)

	keep, err := sharing.New(store, sharing.WithClock(clock.Now), sharing.WithLogRetention(0))
	require.NoError(t, err)
	n, err := keep.PruneLogs(t.Context())
	require.NoError(t, err)
	assert.Zero(t, n, "0 keeps everything")
	assert.Len(t, allLogs(t, keep), 2)

	def, err := sharing.New(store, sharing.WithClock(clock.Now))
	require.NoError(t, err)
	n, err = def.PruneLogs(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 1, n, "the default keeps 90 days")
	assert.Equal(t, 90*day, sharing.DefaultLogRetention)
}

func TestNewRejectsNegativeLogRetention(t *testing.T) {
	t.Parallel()
	_, err := sharing.New(memstore.New(), sharing.WithLogRetention(-time.Hour))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "-1h0m0s is negative")
	assert.Contains(t, err.Error(), "or 0 to keep them all")
}

// pruneFailStore fails every PruneLogs.
type pruneFailStore struct{ sharing.Store }

type pruneFailTx struct{ sharing.Tx }

func (pruneFailTx) PruneLogs(time.Time) (int, error) { return 0, errDisk }

func (s pruneFailStore) Update(ctx context.Context, fn func(sharing.Tx) error) error {
	return s.Store.Update(ctx, func(tx sharing.Tx) error { return fn(pruneFailTx{tx}) })
}

func TestPruneLogsStoreErrorAudited(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	t.Cleanup(func() { _ = store.Close() })
	seedLogs(t, store, engStart, 100*day)
	eng, err := sharing.New(pruneFailStore{store}, sharing.WithClock((&engClock{now: engStart}).Now))
	require.NoError(t, err)

	n, err := eng.PruneLogs(t.Context())
	require.ErrorIs(t, err, errDisk)
	assert.Zero(t, n)
	assert.Contains(t, err.Error(), "prune audit log before 2026-08-04T09:00:00Z")
	got := allLogs(t, eng)
	require.Len(t, got, 2, "the old entry stays, the failure is audited")
	assert.Equal(t, slog.LevelError, got[1].Level)
	assert.Contains(t, got[1].Message, "disk full")
	assert.NotEmpty(t, got[1].Resolution)

	// A cancelled context is returned, not audited.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = eng.PruneLogs(ctx)
	require.ErrorIs(t, err, context.Canceled)
	assert.Len(t, allLogs(t, eng), 2)
}

func TestRunPrunesLogsAtStartAndDaily(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := memstore.New()
		defer store.Close()
		start := time.Now()
		seedLogs(t, store, start, 100*day, 90*day-12*time.Hour, 89*day)
		eng, err := sharing.New(store)
		require.NoError(t, err)
		require.NoError(t, eng.AddPlugin("src", plugintest.NewFake(), sharing.SourceSettings{SyncInterval: 6 * time.Hour}))
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- eng.Run(ctx) }()

		synctest.Wait()
		notes := pruneNotes(allLogs(t, eng))
		require.Len(t, notes, 1, "one prune at start")
		assert.Equal(t, "1", notes[0].Details["deleted"])

		time.Sleep(day - time.Minute)
		synctest.Wait()
		assert.Len(t, pruneNotes(allLogs(t, eng)), 1, "no prune before a day")

		time.Sleep(2 * time.Minute)
		synctest.Wait()
		notes = pruneNotes(allLogs(t, eng))
		require.Len(t, notes, 2, "the second prune a day later")
		assert.Equal(t, "1", notes[1].Details["deleted"], "the entry 89.5 days old at start")

		time.Sleep(day)
		synctest.Wait()
		notes = pruneNotes(allLogs(t, eng))
		require.Len(t, notes, 3, "the 89-day-old entry goes on the third day")
		assert.Equal(t, "1", notes[2].Details["deleted"])
		for _, e := range allLogs(t, eng) {
			assert.False(t, e.Time.Before(time.Now().Add(-sharing.DefaultLogRetention)), "nothing older than 90 days: %s", e.Message)
		}

		cancel()
		require.NoError(t, <-done)
	})
}

func TestRunKeepsLogsWithZeroRetention(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := memstore.New()
		defer store.Close()
		seedLogs(t, store, time.Now(), 400*day)
		eng, err := sharing.New(store, sharing.WithLogRetention(0))
		require.NoError(t, err)
		require.NoError(t, eng.AddPlugin("src", plugintest.NewFake(), sharing.SourceSettings{SyncInterval: 6 * time.Hour}))
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- eng.Run(ctx) }()
		time.Sleep(3 * day)
		synctest.Wait()
		cancel()
		require.NoError(t, <-done)
		got := allLogs(t, eng)
		assert.Equal(t, (400 * day).String(), got[0].Message, "the old entry stays")
		assert.Empty(t, pruneNotes(got))
	})
}
