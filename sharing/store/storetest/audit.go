package storetest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/sharing"
)

func logs(t *testing.T, s sharing.Store, f sharing.LogFilter) []sharing.AuditEntry {
	t.Helper()
	var out []sharing.AuditEntry
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		return tx.Logs(f, func(e sharing.AuditEntry) error {
			out = append(out, e)
			return nil
		})
	}))
	return out
}

func messages(es []sharing.AuditEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Message
	}
	return out
}

func testAuditSeqAndFilters(t *testing.T, s sharing.Store) {
	levels := []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError}
	for i := range 12 {
		update(t, s, func(tx sharing.Tx) error {
			return tx.Log(sharing.AuditEntry{
				Seq:     999, // ignored: the store assigns it
				Time:    t0.Add(time.Duration(i) * time.Minute),
				Level:   levels[i%4],
				Config:  []string{"c1", "c2", "c3"}[i%3],
				Message: fmt.Sprintf("m%d", i),
				Details: map[string]string{"i": fmt.Sprint(i)},
			})
		})
	}
	all := logs(t, s, sharing.LogFilter{MinLevel: slog.LevelDebug})
	require.Len(t, all, 12)
	for i := 1; i < len(all); i++ {
		assert.Greater(t, all[i].Seq, all[i-1].Seq, "seq increases")
	}
	assert.NotEqual(t, uint64(999), all[0].Seq)
	assert.Equal(t, map[string]string{"i": "0"}, all[0].Details)
	assert.Equal(t, t0, all[0].Time)
	assert.Equal(t, "c1", all[0].Config)

	assert.Equal(t, []string{"m1", "m2", "m3", "m5", "m6", "m7", "m9", "m10", "m11"},
		messages(logs(t, s, sharing.LogFilter{})), "the zero MinLevel is Info")
	assert.Equal(t, []string{"m2", "m3", "m6", "m7", "m10", "m11"},
		messages(logs(t, s, sharing.LogFilter{MinLevel: slog.LevelWarn})))
	assert.Equal(t, []string{"m0", "m3", "m6", "m9"},
		messages(logs(t, s, sharing.LogFilter{MinLevel: slog.LevelDebug, Config: "c1"})))
	assert.Equal(t, []string{"m10", "m11"},
		messages(logs(t, s, sharing.LogFilter{Since: t0.Add(10 * time.Minute)})), "Since is inclusive")
	assert.Equal(t, []string{"m7", "m10", "m11"},
		messages(logs(t, s, sharing.LogFilter{MinLevel: slog.LevelWarn, Limit: 3})), "newest Limit, oldest first")
	assert.Equal(t, []string{"m6", "m9"},
		messages(logs(t, s, sharing.LogFilter{Config: "c1", Since: t0.Add(2 * time.Minute), Limit: 2})))
	assert.Len(t, logs(t, s, sharing.LogFilter{MinLevel: slog.LevelDebug, Limit: 100}), 12)
	assert.Empty(t, logs(t, s, sharing.LogFilter{Config: "nobody"}))

	// The reader's map is its own.
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		return tx.Logs(sharing.LogFilter{MinLevel: slog.LevelDebug}, func(e sharing.AuditEntry) error {
			e.Details["i"] = "mutated"
			return nil
		})
	}))
	assert.Equal(t, "0", logs(t, s, sharing.LogFilter{MinLevel: slog.LevelDebug})[0].Details["i"])

	boom := errors.New("boom")
	err := s.View(t.Context(), func(tx sharing.Tx) error {
		return tx.Logs(sharing.LogFilter{}, func(sharing.AuditEntry) error { return boom })
	})
	assert.ErrorIs(t, err, boom)
}

// logAt stores one Info entry per minute offset from t0, messages m<offset>.
func logAt(t *testing.T, s sharing.Store, minutes ...int) {
	t.Helper()
	update(t, s, func(tx sharing.Tx) error {
		for _, m := range minutes {
			err := tx.Log(sharing.AuditEntry{Time: t0.Add(time.Duration(m) * time.Minute), Level: slog.LevelInfo,
				Config: "c1", Message: fmt.Sprintf("m%d", m), Details: map[string]string{"m": fmt.Sprint(m)}})
			if err != nil {
				return err
			}
		}
		return nil
	})
}

func prune(t *testing.T, s sharing.Store, before time.Time) int {
	t.Helper()
	var n int
	update(t, s, func(tx sharing.Tx) error {
		var err error
		n, err = tx.PruneLogs(before)
		return err
	})
	return n
}

func testPruneLogs(t *testing.T, s sharing.Store) {
	assert.Equal(t, 0, prune(t, s, t2), "an empty log")
	logAt(t, s, 0, 1, 2, 3, 4, 5)
	all := logs(t, s, sharing.LogFilter{MinLevel: slog.LevelDebug})
	require.Len(t, all, 6)

	assert.Equal(t, 0, prune(t, s, t0), "nothing is older than the first entry")
	assert.Equal(t, 3, prune(t, s, t0.Add(3*time.Minute)), "strictly older: m3 stays")
	left := logs(t, s, sharing.LogFilter{MinLevel: slog.LevelDebug})
	assert.Equal(t, []string{"m3", "m4", "m5"}, messages(left))
	assert.Equal(t, all[3:], left, "the kept entries are unchanged, Seq included")
	assert.Equal(t, 0, prune(t, s, t0.Add(3*time.Minute)), "a second prune finds nothing")

	// A cutoff in another zone is the same instant.
	assert.Equal(t, 1, prune(t, s, t0.Add(4*time.Minute).In(time.FixedZone("X", 5*3600))))
	assert.Equal(t, []string{"m4", "m5"}, messages(logs(t, s, sharing.LogFilter{MinLevel: slog.LevelDebug})))

	// New entries keep numbers above every number given before, even pruned ones.
	assert.Equal(t, 2, prune(t, s, t2))
	assert.Empty(t, logs(t, s, sharing.LogFilter{MinLevel: slog.LevelDebug}))
	logAt(t, s, 200, 201)
	after := logs(t, s, sharing.LogFilter{MinLevel: slog.LevelDebug})
	require.Len(t, after, 2)
	assert.Greater(t, after[0].Seq, all[5].Seq)
	assert.Greater(t, after[1].Seq, after[0].Seq)
	assert.Equal(t, map[string]string{"m": "200"}, after[0].Details)

	// The walk stops at the first entry not older than the cutoff: an older one
	// logged after it stays (entries are nearly in time order; it goes next time).
	logAt(t, s, 300, 250, 301)
	assert.Equal(t, 2, prune(t, s, t0.Add(290*time.Minute)))
	assert.Equal(t, []string{"m300", "m250", "m301"}, messages(logs(t, s, sharing.LogFilter{MinLevel: slog.LevelDebug})))
	assert.Equal(t, 3, prune(t, s, t0.Add(400*time.Minute)))

	// Inside View it refuses and deletes nothing.
	logAt(t, s, 500)
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		n, err := tx.PruneLogs(t0.Add(600 * time.Minute))
		assert.ErrorIs(t, err, sharing.ErrReadOnly)
		assert.Zero(t, n)
		return nil
	}))
	assert.Len(t, logs(t, s, sharing.LogFilter{MinLevel: slog.LevelDebug}), 1)
}

func testPruneLogsRollback(t *testing.T, s sharing.Store) {
	logAt(t, s, 0, 1, 2)
	before := logs(t, s, sharing.LogFilter{MinLevel: slog.LevelDebug})
	boom := errors.New("boom")
	err := s.Update(t.Context(), func(tx sharing.Tx) error {
		if err := tx.Log(sharing.AuditEntry{Time: t0.Add(3 * time.Minute), Message: "m3"}); err != nil {
			return err
		}
		n, err := tx.PruneLogs(t0.Add(2 * time.Minute))
		if err != nil {
			return err
		}
		if n != 2 {
			return fmt.Errorf("pruned %d, want 2", n)
		}
		if err := tx.Log(sharing.AuditEntry{Time: t0.Add(4 * time.Minute), Message: "m4"}); err != nil {
			return err
		}
		var seen []string
		if err := tx.Logs(sharing.LogFilter{MinLevel: slog.LevelDebug}, func(e sharing.AuditEntry) error {
			seen = append(seen, e.Message)
			return nil
		}); err != nil {
			return err
		}
		if !slices.Equal(seen, []string{"m2", "m3", "m4"}) {
			return fmt.Errorf("inside the transaction: %v", seen)
		}
		return boom
	})
	require.ErrorIs(t, err, boom, "the prune is seen inside the transaction")
	assert.Equal(t, before, logs(t, s, sharing.LogFilter{MinLevel: slog.LevelDebug}), "a failed Update prunes nothing")

	assert.PanicsWithValue(t, "boom", func() {
		_ = s.Update(context.Background(), func(tx sharing.Tx) error {
			_, _ = tx.PruneLogs(t2)
			panic("boom")
		})
	})
	assert.Equal(t, before, logs(t, s, sharing.LogFilter{MinLevel: slog.LevelDebug}), "a panicking Update prunes nothing")

	assert.Equal(t, 3, prune(t, s, t2), "the store is still usable")
	logAt(t, s, 10)
	got := logs(t, s, sharing.LogFilter{MinLevel: slog.LevelDebug})
	require.Len(t, got, 1)
	assert.Greater(t, got[0].Seq, before[2].Seq, "numbers taken by the rolled-back entries may be skipped, never reused below")
}
