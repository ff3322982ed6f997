package storetest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
)

// snapshot reads everything the store holds about the names used in the
// rollback tests.
type snapshot struct {
	Records []sharing.Record
	CP      map[string]cte.Checkpoint
	Ledger  []sharing.LedgerEntry
	Applied []sharing.AppliedSet
	Logs    []sharing.AuditEntry
	Runs    []sharing.RunState
}

func snap(t *testing.T, s sharing.Store) snapshot {
	t.Helper()
	var out snapshot
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		require.NoError(t, tx.Records(func(r *sharing.Record) error {
			c := *r
			c.Entries = slices.Clone(r.Entries)
			for i := range c.Entries {
				c.Entries[i].Tags = slices.Clone(c.Entries[i].Tags)
			}
			out.Records = append(out.Records, c)
			return nil
		}))
		out.CP = map[string]cte.Checkpoint{}
		for _, src := range []string{"A", "B"} {
			cp, err := tx.Checkpoint(src)
			require.NoError(t, err)
			out.CP[src] = cp
		}
		for _, c := range []string{"c1", "c2"} {
			require.NoError(t, tx.LedgerEntries(c, func(e *sharing.LedgerEntry) error {
				out.Ledger = append(out.Ledger, *e)
				return nil
			}))
			a, _, err := tx.AppliedSet(c)
			require.NoError(t, err)
			out.Applied = append(out.Applied, a)
			r, _, err := tx.RunState(c)
			require.NoError(t, err)
			out.Runs = append(out.Runs, r)
		}
		return tx.Logs(sharing.LogFilter{MinLevel: slog.LevelDebug}, func(e sharing.AuditEntry) error {
			out.Logs = append(out.Logs, e)
			return nil
		})
	}))
	return out
}

// seedAndWriteAll stores a known state, then returns a function writing to
// every part of the store, changing existing data and adding new data.
func seedAndWriteAll(t *testing.T, s sharing.Store) func(tx sharing.Tx) error {
	update(t, s, func(tx sharing.Tx) error {
		if _, err := tx.Merge("A", []ioc.Indicator{sha(1, t0), sha(2, t0)}, t0); err != nil {
			return err
		}
		if err := tx.SetCheckpoint("A", cte.Checkpoint("a1")); err != nil {
			return err
		}
		if err := tx.PutLedger("c1", []sharing.LedgerEntry{{Value: Hash(1), State: sharing.StateApplied, At: t0}}); err != nil {
			return err
		}
		if err := tx.PutAppliedSet("c1", sharing.AppliedSet{Digest: "d1", Count: 1, At: t0}); err != nil {
			return err
		}
		if err := tx.PutRunState(sharing.RunState{Name: "c1", LastRun: t0, Counts: map[string]int{"applied": 1}}); err != nil {
			return err
		}
		return tx.Log(sharing.AuditEntry{Time: t0, Level: slog.LevelInfo, Config: "c1", Message: "seed"})
	})
	return func(tx sharing.Tx) error {
		upd := sha(1, t2)
		upd.Severity = ioc.SeverityCritical
		upd.Tags = []string{"new-tag"}
		if _, err := tx.Merge("A", []ioc.Indicator{upd, sha(3, t1)}, t2); err != nil {
			return err
		}
		if _, err := tx.Merge("B", []ioc.Indicator{sha(2, t1), sha(4, t1)}, t2); err != nil {
			return err
		}
		if err := tx.SetInactive("A", []string{Hash(2)}, t2); err != nil {
			return err
		}
		if err := tx.SetCheckpoint("A", cte.Checkpoint("a2")); err != nil {
			return err
		}
		if err := tx.SetCheckpoint("B", cte.Checkpoint("b1")); err != nil {
			return err
		}
		if err := tx.PutLedger("c1", []sharing.LedgerEntry{{Value: Hash(1), State: sharing.StateRetracted, At: t2},
			{Value: Hash(3), State: sharing.StateApplied, At: t2}}); err != nil {
			return err
		}
		if err := tx.PutLedger("c2", []sharing.LedgerEntry{{Value: Hash(4), State: sharing.StateRejected, At: t2}}); err != nil {
			return err
		}
		if err := tx.PutAppliedSet("c1", sharing.AppliedSet{Digest: "d2", Count: 2, At: t2}); err != nil {
			return err
		}
		if err := tx.PutAppliedSet("c2", sharing.AppliedSet{Digest: "x", Count: 2, At: t2}); err != nil {
			return err
		}
		if err := tx.PutRunState(sharing.RunState{Name: "c1", LastRun: t2, LastError: "boom"}); err != nil {
			return err
		}
		if err := tx.PutRunState(sharing.RunState{Name: "c2", LastRun: t2}); err != nil {
			return err
		}
		for range 3 {
			if err := tx.Log(sharing.AuditEntry{Time: t2, Level: slog.LevelError, Config: "c2", Message: "x"}); err != nil {
				return err
			}
		}
		// the writes are visible inside the transaction, to lookups and scans
		r, ok, err := tx.Record(Hash(4))
		if err != nil || !ok || r.Value != Hash(4) {
			return fmt.Errorf("own write not visible: %v %v %v", r, ok, err)
		}
		n := 0
		if err := tx.Records(func(*sharing.Record) error { n++; return nil }); err != nil {
			return err
		}
		if n != 4 {
			return fmt.Errorf("scan inside the transaction saw %d records, want 4", n)
		}
		return tx.LedgerEntries("c2", func(*sharing.LedgerEntry) error { n++; return nil })
	}
}

func testRollbackOnError(t *testing.T, s sharing.Store) {
	write := seedAndWriteAll(t, s)
	before := snap(t, s)
	boom := errors.New("boom")
	err := s.Update(t.Context(), func(tx sharing.Tx) error {
		if err := write(tx); err != nil {
			return err
		}
		return boom
	})
	require.ErrorIs(t, err, boom, "Update returns fn's error")
	assert.Equal(t, before, snap(t, s), "a failed Update leaves no trace")

	// The same writes commit when fn succeeds, and the audit sequence goes on.
	update(t, s, write)
	after := snap(t, s)
	assert.NotEqual(t, before, after)
	assert.Len(t, after.Records, 4)
	assert.Len(t, after.Logs, 4)
	for i := 1; i < len(after.Logs); i++ {
		assert.Greater(t, after.Logs[i].Seq, after.Logs[i-1].Seq)
	}
	assert.Equal(t, cte.Checkpoint("b1"), after.CP["B"])
}

func testRollbackOnPanic(t *testing.T, s sharing.Store) {
	write := seedAndWriteAll(t, s)
	before := snap(t, s)
	assert.PanicsWithValue(t, "boom", func() {
		_ = s.Update(context.Background(), func(tx sharing.Tx) error {
			if err := write(tx); err != nil {
				return err
			}
			panic("boom")
		})
	})
	assert.Equal(t, before, snap(t, s), "a panicking Update leaves no trace")
	update(t, s, write) // the store is still usable
}

func testReadOnlyView(t *testing.T, s sharing.Store) {
	writes := map[string]func(tx sharing.Tx) error{
		"Merge": func(tx sharing.Tx) error {
			_, err := tx.Merge("A", []ioc.Indicator{sha(1, t0)}, t0)
			return err
		},
		"SetInactive":   func(tx sharing.Tx) error { return tx.SetInactive("A", []string{Hash(1)}, t0) },
		"SetCheckpoint": func(tx sharing.Tx) error { return tx.SetCheckpoint("A", cte.Checkpoint("x")) },
		"PutLedger": func(tx sharing.Tx) error {
			return tx.PutLedger("c", []sharing.LedgerEntry{{Value: "v", State: sharing.StateApplied}})
		},
		"PutAppliedSet": func(tx sharing.Tx) error { return tx.PutAppliedSet("c", sharing.AppliedSet{Digest: "d"}) },
		"Log":           func(tx sharing.Tx) error { return tx.Log(sharing.AuditEntry{Message: "m"}) },
		"PruneLogs": func(tx sharing.Tx) error {
			_, err := tx.PruneLogs(t2)
			return err
		},
		"PutRunState": func(tx sharing.Tx) error { return tx.PutRunState(sharing.RunState{Name: "c"}) },
	}
	for name, w := range writes {
		err := s.View(t.Context(), func(tx sharing.Tx) error {
			err := w(tx)
			assert.ErrorIs(t, err, sharing.ErrReadOnly, name)
			return nil
		})
		require.NoError(t, err)
	}
	assert.Empty(t, Values(t, s))
	assert.Empty(t, logs(t, s, sharing.LogFilter{MinLevel: slog.LevelDebug}))
}

func testCancelledContext(t *testing.T, s sharing.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	called := false
	err := s.Update(ctx, func(sharing.Tx) error { called = true; return nil })
	assert.ErrorIs(t, err, context.Canceled)
	err = s.View(ctx, func(sharing.Tx) error { called = true; return nil })
	assert.ErrorIs(t, err, context.Canceled)
	assert.False(t, called, "fn is not run under a cancelled context")

	// A scan notices a cancellation while it runs.
	in := make([]ioc.Indicator, 5000)
	for i := range in {
		in[i] = sha(i, t0)
	}
	merge(t, s, "A", in, t0)
	ctx, cancel = context.WithCancel(t.Context())
	n := 0
	err = s.View(ctx, func(tx sharing.Tx) error {
		return tx.Records(func(*sharing.Record) error {
			n++
			if n == 10 {
				cancel()
			}
			return nil
		})
	})
	assert.ErrorIs(t, err, context.Canceled)
	assert.Less(t, n, 5000, "the scan stopped early")
}

func testTxAfterReturn(t *testing.T, s sharing.Store) {
	var kept sharing.Tx
	update(t, s, func(tx sharing.Tx) error { kept = tx; return nil })
	_, err := kept.Merge("A", []ioc.Indicator{sha(1, t0)}, t0)
	assert.Error(t, err, "a write tx used after Update returned")
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error { kept = tx; return nil }))
	_, _, err = kept.Record(Hash(1))
	assert.Error(t, err, "a read tx used after View returned")
	assert.Empty(t, Values(t, s))
}

// testConcurrency runs readers beside a writer; each reader checks that it sees
// whole pages only: the checkpoint names the last page and the records match it.
func testConcurrency(t *testing.T, s sharing.Store) {
	const pages, perPage, readers = 20, 25, 4
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range readers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := s.View(t.Context(), func(tx sharing.Tx) error {
					cp, err := tx.Checkpoint("A")
					if err != nil {
						return err
					}
					want := 0
					if cp != nil {
						if _, err := fmt.Sscanf(string(cp), "page-%d", &want); err != nil {
							return err
						}
						want = (want + 1) * perPage
					}
					n := 0
					if err := tx.Records(func(*sharing.Record) error { n++; return nil }); err != nil {
						return err
					}
					if n != want {
						return fmt.Errorf("checkpoint %q but %d records", cp, n)
					}
					return nil
				})
				if !assert.NoError(t, err) {
					return
				}
			}
		})
	}
	for p := range pages {
		in := make([]ioc.Indicator, perPage)
		for i := range in {
			in[i] = sha(p*perPage+i, t0)
		}
		update(t, s, func(tx sharing.Tx) error {
			if _, err := tx.Merge("A", in, t0); err != nil {
				return err
			}
			return tx.SetCheckpoint("A", cte.Checkpoint(fmt.Sprintf("page-%d", p)))
		})
		// a failing update between pages must stay invisible to the readers
		_ = s.Update(t.Context(), func(tx sharing.Tx) error {
			if _, err := tx.Merge("A", []ioc.Indicator{sha(1<<40, t0)}, t0); err != nil {
				return err
			}
			return errors.New("rolled back")
		})
	}
	close(stop)
	wg.Wait()
	assert.Len(t, Values(t, s), pages*perPage)
}
