package storetest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
)

// Open returns a new, empty store for one test. It should register the store's
// Close with t.Cleanup.
type Open func(t *testing.T) sharing.Store

// Run checks that the stores open returns behave as sharing.Store requires.
// Every check runs as a parallel subtest on a store of its own.
func Run(t *testing.T, open Open) {
	t.Helper()
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, open(t))
		})
	}
}

var checks = []struct {
	name string
	fn   func(t *testing.T, s sharing.Store)
}{
	{"MergeCounts", testMergeCounts},
	{"MergeCombinesPerSource", testMergeCombinesPerSource},
	{"MergeDuplicateInOnePage", testMergeDuplicateInOnePage},
	{"MergeRejectsBadInput", testMergeRejectsBadInput},
	{"MergeKeepsFirstType", testMergeKeepsFirstType},
	{"SetInactiveAndReactivate", testSetInactiveAndReactivate},
	{"RecordsOrder", testRecordsOrder},
	{"RecordsStopAndError", testRecordsStopAndError},
	{"RecordsSeeOwnWrites", testRecordsSeeOwnWrites},
	{"RecordsWriteDuringScan", testRecordsWriteDuringScan},
	{"RecordsNestedScan", testRecordsNestedScan},
	{"ReadsAreCopies", testReadsAreCopies},
	{"TimesUTC", testTimesUTC},
	{"Checkpoints", testCheckpoints},
	{"Ledger", testLedger},
	{"LedgerRejectsBadInput", testLedgerRejectsBadInput},
	{"LedgerWriteDuringScan", testLedgerWriteDuringScan},
	{"AppliedSets", testAppliedSets},
	{"AuditSeqAndFilters", testAuditSeqAndFilters},
	{"PruneLogs", testPruneLogs},
	{"PruneLogsRollback", testPruneLogsRollback},
	{"RunState", testRunState},
	{"RollbackOnError", testRollbackOnError},
	{"RollbackOnPanic", testRollbackOnPanic},
	{"ReadOnlyView", testReadOnlyView},
	{"CancelledContext", testCancelledContext},
	{"TxAfterReturn", testTxAfterReturn},
	{"Concurrency", testConcurrency},
}

var (
	t0 = time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	t1 = t0.Add(time.Hour)
	t2 = t0.Add(2 * time.Hour)
)

// Hash returns a distinct normalised sha256 value for i. Its hex digits look
// random all the way, as real hashes do (the first 16 are a bijection of i).
func Hash(i int) string {
	var b [64]byte
	x := uint64(i)
	for w := range 4 {
		x = mix(x + uint64(w))
		for j := range 16 {
			b[w*16+j] = "0123456789abcdef"[(x>>(60-4*j))&15]
		}
	}
	return string(b[:])
}

// mix is splitmix64's finaliser, a bijection.
func mix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func sha(i int, lastSeen time.Time) ioc.Indicator {
	return ioc.Indicator{Type: ioc.TypeSHA256, Value: Hash(i), Severity: ioc.SeverityMedium, Reputation: 6,
		Comments: fmt.Sprintf("file-%d.exe", i), Tags: []string{"malware"}, FirstSeen: lastSeen, LastSeen: lastSeen}
}

func update(t *testing.T, s sharing.Store, fn func(tx sharing.Tx) error) {
	t.Helper()
	require.NoError(t, s.Update(t.Context(), fn))
}

func merge(t *testing.T, s sharing.Store, source string, in []ioc.Indicator, now time.Time) sharing.MergeStats {
	t.Helper()
	var st sharing.MergeStats
	update(t, s, func(tx sharing.Tx) error {
		var err error
		st, err = tx.Merge(source, in, now)
		return err
	})
	return st
}

func record(t *testing.T, s sharing.Store, value string) (sharing.Record, bool) {
	t.Helper()
	var r sharing.Record
	var ok bool
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		var err error
		r, ok, err = tx.Record(value)
		return err
	}))
	return r, ok
}

func values(t *testing.T, s sharing.Store) []string {
	t.Helper()
	var out []string
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		return tx.Records(func(r *sharing.Record) error {
			out = append(out, r.Value)
			return nil
		})
	}))
	return out
}

func testMergeCounts(t *testing.T, s sharing.Store) {
	a, b, c := sha(1, t0), sha(2, t0), sha(3, t0)
	assert.Equal(t, sharing.MergeStats{New: 2}, merge(t, s, "A", []ioc.Indicator{a, b}, t0))
	assert.Equal(t, sharing.MergeStats{New: 1, Added: 1}, merge(t, s, "B", []ioc.Indicator{a, c}, t1))
	assert.Equal(t, sharing.MergeStats{Added: 1, Updated: 2}, merge(t, s, "A", []ioc.Indicator{a, b, c}, t2))
	assert.Equal(t, sharing.MergeStats{}, merge(t, s, "A", nil, t2))

	r, ok := record(t, s, a.Value)
	require.True(t, ok)
	assert.Equal(t, ioc.TypeSHA256, r.Type)
	assert.Equal(t, a.Value, r.Value)
	assert.Equal(t, []string{"A", "B"}, r.Sources())
	_, ok = record(t, s, Hash(99))
	assert.False(t, ok, "a value never merged has no record")
}

func testMergeCombinesPerSource(t *testing.T, s sharing.Store) {
	first := ioc.Indicator{Type: ioc.TypeSHA256, Value: Hash(1), Severity: ioc.SeverityLow, Reputation: 3,
		Comments: "first.exe", Tags: []string{"b", "a"}, FirstSeen: t0, LastSeen: t0, ExpiresAt: t0.Add(24 * time.Hour),
		Source: "ignored"}
	second := ioc.Indicator{Type: ioc.TypeSHA256, Value: Hash(1), Severity: ioc.SeverityHigh, Reputation: 8,
		Comments: "second.exe", Tags: []string{"c", "a"}, FirstSeen: t1, LastSeen: t1}
	other := ioc.Indicator{Type: ioc.TypeSHA256, Value: Hash(1), Severity: ioc.SeverityCritical, Comments: "other"}
	merge(t, s, "Z-source", []ioc.Indicator{first}, t0)
	merge(t, s, "A-source", []ioc.Indicator{other}, t1)
	merge(t, s, "Z-source", []ioc.Indicator{second}, t2)

	r, ok := record(t, s, Hash(1))
	require.True(t, ok)
	require.Len(t, r.Entries, 2)
	assert.Equal(t, []string{"A-source", "Z-source"}, r.Sources(), "entries sorted by source")

	a, ok := r.Entry("A-source")
	require.True(t, ok)
	wantOther := other
	wantOther.Source = "A-source"
	assert.Equal(t, wantOther, a.Indicator, "another source's report does not touch this entry")
	assert.Equal(t, t1, a.StoredAt)

	z, ok := r.Entry("Z-source")
	require.True(t, ok)
	want := ioc.Merge(first, second)
	want.Source = "Z-source"
	assert.Equal(t, want, z.Indicator, "same source: ioc.Merge of the reports")
	assert.Equal(t, t2, z.StoredAt, "StoredAt is the last merge's time")
	assert.False(t, z.Inactive)
}

func testMergeDuplicateInOnePage(t *testing.T, s sharing.Store) {
	a := sha(1, t0)
	b := sha(1, t1)
	b.Severity = ioc.SeverityCritical
	assert.Equal(t, sharing.MergeStats{New: 1, Updated: 1}, merge(t, s, "A", []ioc.Indicator{a, b}, t1))
	r, ok := record(t, s, a.Value)
	require.True(t, ok)
	require.Len(t, r.Entries, 1)
	assert.Equal(t, ioc.SeverityCritical, r.Entries[0].Severity)
	assert.Equal(t, t1, r.Entries[0].LastSeen)
	assert.Equal(t, t0, r.Entries[0].FirstSeen)
}

func testMergeRejectsBadInput(t *testing.T, s sharing.Store) {
	good := sha(1, t0)
	upper := sha(2, t0)
	upper.Value = "ABCDEF" + upper.Value[6:]
	cases := map[string]struct {
		source string
		in     ioc.Indicator
	}{
		"empty source":   {"", good},
		"invalid type":   {"A", ioc.Indicator{Value: Hash(3)}},
		"not normalised": {"A", upper},
		"not a hash":     {"A", ioc.Indicator{Type: ioc.TypeSHA256, Value: "nope"}},
		"empty value":    {"A", ioc.Indicator{Type: ioc.TypeDomain}},
		"too long":       {"A", ioc.Indicator{Type: ioc.TypeURL, Value: "http://evil.example/" + strings.Repeat("a", 20000)}},
	}
	for name, c := range cases {
		err := s.Update(t.Context(), func(tx sharing.Tx) error {
			_, err := tx.Merge(c.source, []ioc.Indicator{good, c.in}, t0)
			return err
		})
		assert.Error(t, err, name)
	}
	// A Merge that fails stores nothing even when the caller commits anyway.
	update(t, s, func(tx sharing.Tx) error {
		_, err := tx.Merge("A", []ioc.Indicator{good, upper}, t0)
		assert.ErrorContains(t, err, upper.Value[:20])
		return nil
	})
	assert.Empty(t, values(t, s))
}

func testMergeKeepsFirstType(t *testing.T, s sharing.Store) {
	merge(t, s, "A", []ioc.Indicator{{Type: ioc.TypeDomain, Value: "evil.example"}}, t0)
	merge(t, s, "B", []ioc.Indicator{{Type: ioc.TypeHostname, Value: "evil.example"}}, t0)
	r, ok := record(t, s, "evil.example")
	require.True(t, ok)
	assert.Equal(t, ioc.TypeDomain, r.Type, "the record keeps the type it was first stored with")
	b, ok := r.Entry("B")
	require.True(t, ok)
	assert.Equal(t, ioc.TypeHostname, b.Type, "each entry keeps the type its source reported")
}

func testSetInactiveAndReactivate(t *testing.T, s sharing.Store) {
	a, b := sha(1, t0), sha(2, t0)
	merge(t, s, "A", []ioc.Indicator{a, b}, t0)
	merge(t, s, "B", []ioc.Indicator{a}, t0)
	update(t, s, func(tx sharing.Tx) error {
		return tx.SetInactive("A", []string{a.Value, Hash(404)}, t1)
	})
	update(t, s, func(tx sharing.Tx) error { return tx.SetInactive("nobody", []string{a.Value}, t1) })

	r, _ := record(t, s, a.Value)
	ea, _ := r.Entry("A")
	eb, _ := r.Entry("B")
	assert.True(t, ea.Inactive)
	assert.Equal(t, t1, ea.InactiveAt)
	assert.False(t, eb.Inactive, "another source's entry stays active")
	assert.True(t, eb.InactiveAt.IsZero())
	r, _ = record(t, s, b.Value)
	assert.False(t, r.Entries[0].Inactive, "values not named stay active")
	_, ok := record(t, s, Hash(404))
	assert.False(t, ok, "unknown values are ignored, not created")

	update(t, s, func(tx sharing.Tx) error { return tx.SetInactive("A", []string{a.Value}, t2) })
	r, _ = record(t, s, a.Value)
	ea, _ = r.Entry("A")
	assert.Equal(t, t1, ea.InactiveAt, "an inactive entry keeps the time it became inactive")

	assert.Equal(t, sharing.MergeStats{Updated: 1}, merge(t, s, "A", []ioc.Indicator{a}, t2))
	r, _ = record(t, s, a.Value)
	ea, _ = r.Entry("A")
	assert.False(t, ea.Inactive, "merged again: active")
	assert.True(t, ea.InactiveAt.IsZero())
}

func testRecordsOrder(t *testing.T, s sharing.Store) {
	rng := rand.New(rand.NewPCG(1, 2))
	var want []string
	for page := range 5 {
		in := make([]ioc.Indicator, 0, 50)
		for range 50 {
			i := rng.IntN(1 << 30)
			in = append(in, sha(i, t0))
			want = append(want, Hash(i))
		}
		in = append(in, ioc.Indicator{Type: ioc.TypeDomain, Value: fmt.Sprintf("d%d.example", page)})
		want = append(want, fmt.Sprintf("d%d.example", page))
		merge(t, s, "A", in, t0)
		// read the order between pages too, so a store that sorts lazily is checked
		got := values(t, s)
		w := slices.Clone(want)
		slices.Sort(w)
		w = slices.Compact(w)
		require.Equal(t, w, got, "page %d", page)
	}
}

func testRecordsStopAndError(t *testing.T, s sharing.Store) {
	in := make([]ioc.Indicator, 10)
	for i := range in {
		in[i] = sha(i, t0)
	}
	merge(t, s, "A", in, t0)
	boom := errors.New("boom")
	n := 0
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		err := tx.Records(func(*sharing.Record) error {
			n++
			if n == 3 {
				return sharing.ErrStop
			}
			return nil
		})
		assert.NoError(t, err, "ErrStop ends the scan without error")
		return nil
	}))
	assert.Equal(t, 3, n)
	n = 0
	err := s.View(t.Context(), func(tx sharing.Tx) error {
		return tx.Records(func(*sharing.Record) error {
			n++
			if n == 4 {
				return fmt.Errorf("wrapped: %w", boom)
			}
			return nil
		})
	})
	assert.ErrorIs(t, err, boom)
	assert.Equal(t, 4, n)
}

func testRecordsSeeOwnWrites(t *testing.T, s sharing.Store) {
	merge(t, s, "A", []ioc.Indicator{sha(1, t0)}, t0)
	update(t, s, func(tx sharing.Tx) error {
		if _, err := tx.Merge("A", []ioc.Indicator{sha(2, t0), sha(3, t0)}, t0); err != nil {
			return err
		}
		n := 0
		require.NoError(t, tx.Records(func(*sharing.Record) error { n++; return nil }))
		assert.Equal(t, 3, n, "an Update reads its own writes")
		r, ok, err := tx.Record(Hash(2))
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, Hash(2), r.Value)
		return nil
	})
}

func testRecordsWriteDuringScan(t *testing.T, s sharing.Store) {
	in := make([]ioc.Indicator, 300)
	for i := range in {
		in[i] = sha(i, t0)
	}
	merge(t, s, "A", in, t0)
	// The lifecycle pass marks records inactive while it scans them.
	var seen []string
	update(t, s, func(tx sharing.Tx) error {
		return tx.Records(func(r *sharing.Record) error {
			seen = append(seen, r.Value)
			return tx.SetInactive("A", []string{r.Value}, t1)
		})
	})
	want := values(t, s)
	assert.Equal(t, want, seen, "every record seen once, in order, while writing")
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		return tx.Records(func(r *sharing.Record) error {
			assert.True(t, r.Entries[0].Inactive, r.Value)
			return nil
		})
	}))
}

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

func testRecordsNestedScan(t *testing.T, s sharing.Store) {
	merge(t, s, "A", []ioc.Indicator{sha(1, t0), sha(2, t0), sha(3, t0)}, t0)
	merge(t, s, "B", []ioc.Indicator{sha(2, t1)}, t1)
	want := values(t, s)
	var outer []string
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		return tx.Records(func(r *sharing.Record) error {
			v, n := r.Value, len(r.Entries)
			inner := 0
			if err := tx.Records(func(*sharing.Record) error { inner++; return nil }); err != nil {
				return err
			}
			assert.Equal(t, 3, inner)
			assert.Equal(t, v, r.Value, "an inner scan leaves the outer record alone")
			assert.Len(t, r.Entries, n)
			outer = append(outer, r.Value)
			return nil
		})
	}))
	assert.Equal(t, want, outer)
}

func testReadsAreCopies(t *testing.T, s sharing.Store) {
	a := sha(1, t0)
	a.Tags = []string{"x", "y"}
	merge(t, s, "A", []ioc.Indicator{a}, t0)
	a.Tags[0] = "changed by caller after merge"
	cp := cte.Checkpoint("page-1")
	update(t, s, func(tx sharing.Tx) error { return tx.SetCheckpoint("A", cp) })
	cp[0] = 'X'

	update(t, s, func(tx sharing.Tx) error {
		r, _, err := tx.Record(a.Value)
		require.NoError(t, err)
		r.Entries[0].Tags[0] = "mutated"
		r.Entries[0].Comments = "mutated"
		err = tx.Records(func(r *sharing.Record) error {
			r.Entries[0].Tags[1] = "mutated"
			r.Entries[0].Severity = ioc.SeverityCritical
			return nil
		})
		require.NoError(t, err)
		got, err := tx.Checkpoint("A")
		require.NoError(t, err)
		got[0] = 'Y'
		return nil
	})
	r, _ := record(t, s, a.Value)
	assert.Equal(t, []string{"x", "y"}, r.Entries[0].Tags)
	assert.Equal(t, "file-1.exe", r.Entries[0].Comments)
	assert.Equal(t, ioc.SeverityMedium, r.Entries[0].Severity)
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		got, err := tx.Checkpoint("A")
		assert.Equal(t, cte.Checkpoint("page-1"), got)
		return err
	}))
}

func testTimesUTC(t *testing.T, s sharing.Store) {
	zone := time.FixedZone("UTC+5", 5*3600)
	local := time.Now().In(zone) // has a monotonic reading and a zone
	a := sha(1, local)
	a.FirstSeen = time.Time{}
	a.ExpiresAt = time.Date(9999, 12, 31, 23, 59, 59, 999999999, zone)
	merge(t, s, "A", []ioc.Indicator{a}, local)
	r, _ := record(t, s, a.Value)
	e := r.Entries[0]
	assert.Equal(t, local.Round(0).UTC(), e.LastSeen, "UTC, nanoseconds kept, no monotonic reading")
	assert.Equal(t, local.Round(0).UTC(), e.StoredAt)
	assert.Equal(t, time.Time{}, e.FirstSeen, "the zero time stays zero")
	assert.Equal(t, a.ExpiresAt.UTC(), e.ExpiresAt, "far future times survive")
}

func testCheckpoints(t *testing.T, s sharing.Store) {
	ctx := t.Context()
	require.NoError(t, s.View(ctx, func(tx sharing.Tx) error {
		cp, err := tx.Checkpoint("A")
		assert.Nil(t, cp, "nil before the first page")
		return err
	}))
	update(t, s, func(tx sharing.Tx) error {
		if err := tx.SetCheckpoint("A", cte.Checkpoint("a1")); err != nil {
			return err
		}
		if err := tx.SetCheckpoint("B", cte.Checkpoint{0, 1, 2, 255}); err != nil {
			return err
		}
		return tx.SetCheckpoint("A", cte.Checkpoint("a2"))
	})
	require.NoError(t, s.View(ctx, func(tx sharing.Tx) error {
		a, err := tx.Checkpoint("A")
		require.NoError(t, err)
		b, err := tx.Checkpoint("B")
		require.NoError(t, err)
		assert.Equal(t, cte.Checkpoint("a2"), a)
		assert.Equal(t, cte.Checkpoint{0, 1, 2, 255}, b)
		return nil
	}))
	update(t, s, func(tx sharing.Tx) error { return tx.SetCheckpoint("A", nil) })
	require.NoError(t, s.View(ctx, func(tx sharing.Tx) error {
		a, err := tx.Checkpoint("A")
		assert.Nil(t, a, "a nil checkpoint resets the source to its first run")
		return err
	}))
	err := s.Update(ctx, func(tx sharing.Tx) error { return tx.SetCheckpoint("", cte.Checkpoint("x")) })
	assert.Error(t, err, "empty source name")
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
		slices.SortFunc(want, func(a, b sharing.LedgerEntry) int { return compare(a.Value, b.Value) })
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

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
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
	assert.Empty(t, values(t, s))
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
	assert.Empty(t, values(t, s))
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
	assert.Len(t, values(t, s), pages*perPage)
}
