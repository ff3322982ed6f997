package storetest

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
)

// The engine records outcomes while it walks a ledger: every entry is still seen
// once, in order, and each write lands.
func testLedgerWriteDuringScan(t *testing.T, s sharing.Store) {
	entries := make([]sharing.LedgerEntry, 2000)
	for i := range entries {
		entries[i] = sharing.LedgerEntry{Value: Hash(i), Type: ioc.TypeSHA256, State: sharing.StateApplied, At: t0}
	}
	update(t, s, func(tx sharing.Tx) error { return tx.PutLedger("cfg", entries) })
	var seen []string
	update(t, s, func(tx sharing.Tx) error {
		return tx.LedgerEntries("cfg", func(e *sharing.LedgerEntry) error {
			seen = append(seen, e.Value)
			e.State, e.At = sharing.StateRetracted, t1
			// and an entry that sorts before every scanned one, so the scan must
			// not visit it but must survive the page splits it causes
			added := sharing.LedgerEntry{Value: "!" + e.Value, Type: ioc.TypeSHA256, State: sharing.StateApplied, At: t1}
			return tx.PutLedger("cfg", []sharing.LedgerEntry{*e, added})
		})
	})
	want := make([]string, len(entries))
	for i := range entries {
		want[i] = entries[i].Value
	}
	slices.Sort(want)
	assert.Equal(t, want, seen, "every entry seen once, in order, while writing")
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		n := 0
		err := tx.LedgerEntries("cfg", func(e *sharing.LedgerEntry) error {
			n++
			if !strings.HasPrefix(e.Value, "!") {
				assert.Equal(t, sharing.StateRetracted, e.State, e.Value)
			}
			return nil
		})
		assert.Equal(t, 2*len(entries), n)
		return err
	}))
}

func testLedger(t *testing.T, s sharing.Store) {
	e1 := sharing.LedgerEntry{Value: Hash(2), Type: ioc.TypeSHA256, State: sharing.StateApplied, Fingerprint: 42, At: t0}
	e2 := sharing.LedgerEntry{Value: Hash(1), Type: ioc.TypeSHA256, State: sharing.StateRetryable, Reason: "quota",
		Code: "429", Attempts: 3, NextAttempt: t2, At: t1}
	e3 := sharing.LedgerEntry{Value: "evil.example", Type: ioc.TypeDomain, State: sharing.StateRejected, Reason: "bad", At: t0}
	update(t, s, func(tx sharing.Tx) error {
		if err := tx.PutLedger("to-netskope", []sharing.LedgerEntry{e1, e2, e3}); err != nil {
			return err
		}
		return tx.PutLedger("to-mimecast", []sharing.LedgerEntry{{Value: Hash(1), State: sharing.StateRetracted, At: t2}})
	})
	e2b := e2
	e2b.State, e2b.Attempts, e2b.Reason, e2b.Code, e2b.NextAttempt = sharing.StateApplied, 0, "", "", time.Time{}
	update(t, s, func(tx sharing.Tx) error { return tx.PutLedger("to-netskope", []sharing.LedgerEntry{e2b}) })

	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		got, ok, err := tx.Ledger("to-netskope", Hash(1))
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, e2b, got, "replaced by value")
		got, ok, err = tx.Ledger("to-mimecast", Hash(1))
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, sharing.StateRetracted, got.State, "configurations are separate")
		_, ok, err = tx.Ledger("to-mimecast", Hash(2))
		require.NoError(t, err)
		assert.False(t, ok)
		_, ok, err = tx.Ledger("nobody", Hash(2))
		require.NoError(t, err)
		assert.False(t, ok)

		var all []sharing.LedgerEntry
		require.NoError(t, tx.LedgerEntries("to-netskope", func(e *sharing.LedgerEntry) error {
			all = append(all, *e)
			return nil
		}))
		want := []sharing.LedgerEntry{e2b, e1, e3}
		slices.SortFunc(want, func(a, b sharing.LedgerEntry) int { return strings.Compare(a.Value, b.Value) })
		assert.Equal(t, want, all, "value order")

		n := 0
		require.NoError(t, tx.LedgerEntries("to-netskope", func(*sharing.LedgerEntry) error { n++; return sharing.ErrStop }))
		assert.Equal(t, 1, n)
		boom := errors.New("boom")
		assert.ErrorIs(t, tx.LedgerEntries("to-netskope", func(*sharing.LedgerEntry) error { return boom }), boom)
		require.NoError(t, tx.LedgerEntries("nobody", func(*sharing.LedgerEntry) error {
			t.Error("no entries for an unknown configuration")
			return nil
		}))
		return nil
	}))
}

func testLedgerRejectsBadInput(t *testing.T, s sharing.Store) {
	err := s.Update(t.Context(), func(tx sharing.Tx) error {
		return tx.PutLedger("", []sharing.LedgerEntry{{Value: "x"}})
	})
	assert.Error(t, err, "empty configuration")
	update(t, s, func(tx sharing.Tx) error {
		err := tx.PutLedger("c", []sharing.LedgerEntry{{Value: "ok", State: sharing.StateApplied}, {Value: ""}})
		assert.Error(t, err, "empty value")
		return nil
	})
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		_, ok, err := tx.Ledger("c", "ok")
		assert.False(t, ok, "a failed PutLedger stores none of its entries")
		return err
	}))
}

func testAppliedSets(t *testing.T, s sharing.Store) {
	a := sharing.AppliedSet{Digest: "d1", Count: 10, At: t0}
	update(t, s, func(tx sharing.Tx) error { return tx.PutAppliedSet("c1", a) })
	update(t, s, func(tx sharing.Tx) error {
		return tx.PutAppliedSet("c2", sharing.AppliedSet{Digest: "other", Count: 1, At: t1})
	})
	b := sharing.AppliedSet{Digest: "d2", Count: 0, At: t2}
	update(t, s, func(tx sharing.Tx) error { return tx.PutAppliedSet("c1", b) })
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		got, ok, err := tx.AppliedSet("c1")
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, b, got)
		got, ok, err = tx.AppliedSet("c2")
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, "other", got.Digest)
		_, ok, err = tx.AppliedSet("c3")
		assert.False(t, ok)
		return err
	}))
	assert.Error(t, s.Update(t.Context(), func(tx sharing.Tx) error { return tx.PutAppliedSet("", a) }))
}

func testRunState(t *testing.T, s sharing.Store) {
	r := sharing.RunState{Name: "mimecast", LastRun: t1, LastOK: t0, LastError: "mimecast: 429",
		Counts: map[string]int{"pulled": 5000, "invalid": 2}}
	update(t, s, func(tx sharing.Tx) error { return tx.PutRunState(r) })
	r.Counts["pulled"] = 1 // the store kept its own copy
	update(t, s, func(tx sharing.Tx) error { return tx.PutRunState(sharing.RunState{Name: "other", LastRun: t2}) })
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		got, ok, err := tx.RunState("mimecast")
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, sharing.RunState{Name: "mimecast", LastRun: t1, LastOK: t0, LastError: "mimecast: 429",
			Counts: map[string]int{"pulled": 5000, "invalid": 2}}, got)
		got, ok, err = tx.RunState("other")
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, t2, got.LastRun)
		assert.Empty(t, got.Counts)
		_, ok, err = tx.RunState("nobody")
		assert.False(t, ok)
		return err
	}))
	assert.Error(t, s.Update(t.Context(), func(tx sharing.Tx) error { return tx.PutRunState(sharing.RunState{}) }))
}
