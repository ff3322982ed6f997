package storetest

import (
	"cmp"
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

// RunRanked runs the checks of the optional sharing.RankedTx capability,
// each on a new empty store from open; a store that offers it runs them
// besides Run.
func RunRanked(t *testing.T, open Open) {
	for _, c := range []struct {
		name string
		fn   func(t *testing.T, s sharing.Store)
	}{
		{"RankedOrder", testRankedOrder},
		{"RankedFollowsWrites", testRankedFollowsWrites},
		{"RankedEdits", testRankedEdits},
		{"RankedInUpdateAndRollback", testRankedInUpdateAndRollback},
		{"RankedStopAndError", testRankedStopAndError},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, open(t))
		})
	}
}

type rankedRow struct {
	Value string
	Type  ioc.Type
}

func rankedOf(t *testing.T, tx sharing.Tx, source string) []rankedRow {
	t.Helper()
	rt, ok := tx.(sharing.RankedTx)
	require.True(t, ok, "the Tx implements sharing.RankedTx")
	var out []rankedRow
	require.NoError(t, rt.Ranked(source, func(v string, typ ioc.Type) error {
		out = append(out, rankedRow{v, typ})
		return nil
	}))
	checkRankedCount(t, rt, source, out)
	return out
}

// checkRankedCount checks RankedCount against the rows Ranked gave, for
// every type alone, for all types and for none.
func checkRankedCount(t *testing.T, rt sharing.RankedTx, source string, rows []rankedRow) {
	t.Helper()
	count := func(accept func(ioc.Type) bool) int {
		n := 0
		for _, r := range rows {
			if accept(r.Type) {
				n++
			}
		}
		return n
	}
	accepts := map[string]func(ioc.Type) bool{
		"all":  func(ioc.Type) bool { return true },
		"none": func(ioc.Type) bool { return false },
	}
	for typ := ioc.TypeSHA256; typ <= ioc.TypeIPv6; typ++ {
		accepts[typ.String()] = func(x ioc.Type) bool { return x == typ }
	}
	for name, accept := range accepts {
		got, err := rt.RankedCount(source, accept)
		require.NoError(t, err)
		assert.Equal(t, count(accept), got, "RankedCount of %s, types %s", source, name)
	}
}

func ranked(t *testing.T, s sharing.Store, source string) []rankedRow {
	t.Helper()
	var out []rankedRow
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		out = rankedOf(t, tx, source)
		return nil
	}))
	return out
}

// wantRanked computes the ranked order of source from Records, as the
// engine's packing order defines it.
func wantRanked(t *testing.T, tx sharing.Tx, source string) []rankedRow {
	t.Helper()
	type row struct {
		rankedRow
		sev  ioc.Severity
		seen int64
	}
	var all []row
	require.NoError(t, tx.Records(func(r *sharing.Record) error {
		if en, ok := r.Entry(source); ok && !en.Inactive {
			all = append(all, row{rankedRow{r.Value, en.Type}, en.Severity, en.LastSeen.UnixNano()})
		}
		return nil
	}))
	slices.SortFunc(all, func(a, b row) int {
		return cmp.Or(cmp.Compare(b.sev, a.sev), cmp.Compare(b.seen, a.seen), strings.Compare(a.Value, b.Value))
	})
	out := []rankedRow{}
	for _, r := range all {
		out = append(out, r.rankedRow)
	}
	return out
}

// checkRanked checks Ranked and RankedBefore against Records for each
// source, in a View.
func checkRanked(t *testing.T, s sharing.Store, sources ...string) {
	t.Helper()
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		for _, src := range sources {
			got := rankedOf(t, tx, src)
			if got == nil {
				got = []rankedRow{}
			}
			assert.Equal(t, wantRanked(t, tx, src), got, "ranked order of %s", src)
			checkRankedBefore(t, tx, src)
		}
		return nil
	}))
}

// checkRankedBefore checks RankedBefore against Records at the LastSeen of
// every entry of source (and just after each, and around them): the entries
// seen before, in packing order, and the earliest LastSeen of the others.
func checkRankedBefore(t *testing.T, tx sharing.Tx, source string) {
	t.Helper()
	type row struct {
		rankedRow
		sev  ioc.Severity
		seen time.Time
	}
	var all []row
	require.NoError(t, tx.Records(func(r *sharing.Record) error {
		if en, ok := r.Entry(source); ok && !en.Inactive {
			all = append(all, row{rankedRow{r.Value, en.Type}, en.Severity, en.LastSeen})
		}
		return nil
	}))
	slices.SortFunc(all, func(a, b row) int {
		return cmp.Or(cmp.Compare(b.sev, a.sev), cmp.Compare(b.seen.UnixNano(), a.seen.UnixNano()), strings.Compare(a.Value, b.Value))
	})
	cuts := []time.Time{t0.Add(-time.Hour), t1.Add(100 * time.Hour)}
	for _, r := range all {
		if !r.seen.IsZero() {
			cuts = append(cuts, r.seen, r.seen.Add(time.Nanosecond))
		}
	}
	rt := tx.(sharing.RankedTx)
	for _, cut := range cuts {
		want := []rankedRow{}
		var next time.Time
		for _, r := range all {
			switch {
			case r.seen.IsZero() || r.seen.Before(cut):
				want = append(want, r.rankedRow)
			case next.IsZero() || r.seen.Before(next):
				next = r.seen
			}
		}
		got := []rankedRow{}
		gotNext, err := rt.RankedBefore(source, cut, func(v string, typ ioc.Type) error {
			got = append(got, rankedRow{v, typ})
			return nil
		})
		require.NoError(t, err)
		assert.Equal(t, want, got, "%s seen before %s", source, cut)
		assert.True(t, next.Equal(gotNext), "%s: the earliest seen at or after %s: want %s, got %s", source, cut, next, gotNext)
	}
}

func withSev(x ioc.Indicator, sev ioc.Severity) ioc.Indicator {
	x.Severity = sev
	return x
}

func testRankedOrder(t *testing.T, s sharing.Store) {
	md5 := ioc.Indicator{Type: ioc.TypeMD5, Value: strings.Repeat("a", 32), Severity: ioc.SeverityHigh, LastSeen: t0}
	noSeen := ioc.Indicator{Type: ioc.TypeSHA256, Value: Hash(9), Severity: ioc.SeverityHigh}
	merge(t, s, "A", []ioc.Indicator{
		sha(1, t0), sha(2, t1), withSev(sha(3, t0), ioc.SeverityCritical), sha(4, t1), md5, noSeen,
	}, t1)
	merge(t, s, "B", []ioc.Indicator{withSev(sha(1, t1), ioc.SeverityLow)}, t1)
	// severity first, then the newest LastSeen (none last), then the value
	first, second := Hash(2), Hash(4)
	if second < first {
		first, second = second, first
	}
	want := []rankedRow{
		{Hash(3), ioc.TypeSHA256},
		{md5.Value, ioc.TypeMD5},
		{Hash(9), ioc.TypeSHA256},
		{first, ioc.TypeSHA256},
		{second, ioc.TypeSHA256},
		{Hash(1), ioc.TypeSHA256},
	}
	assert.Equal(t, want, ranked(t, s, "A"))
	assert.Equal(t, []rankedRow{{Hash(1), ioc.TypeSHA256}}, ranked(t, s, "B"))
	assert.Empty(t, ranked(t, s, "C"), "an unknown source")
	assert.Empty(t, ranked(t, s, "AB"), "a source whose name starts like another's")
	checkRanked(t, s, "A", "B")
}

func testRankedFollowsWrites(t *testing.T, s sharing.Store) {
	var page []ioc.Indicator
	for i := range 30 {
		page = append(page, withSev(sha(i, t0.Add(time.Duration(i%4)*time.Minute)), ioc.Severity(i%5)))
	}
	merge(t, s, "A", page, t0)
	merge(t, s, "B", page[:10], t0)
	checkRanked(t, s, "A", "B")

	// re-reported with a new severity and a newer LastSeen: moved, not doubled
	merge(t, s, "A", []ioc.Indicator{withSev(sha(7, t1), ioc.SeverityCritical), sha(8, t1)}, t1)
	rows := ranked(t, s, "A")
	require.Len(t, rows, 30)
	assert.Equal(t, Hash(7), rows[0].Value, "critical and newest comes first")
	checkRanked(t, s, "A", "B")

	// inactive values leave; a re-report brings them back
	update(t, s, func(tx sharing.Tx) error {
		return tx.SetInactive("A", []string{Hash(7), Hash(11), Hash(12)}, t1)
	})
	rows = ranked(t, s, "A")
	assert.Len(t, rows, 27)
	assert.NotContains(t, rows, rankedRow{Hash(7), ioc.TypeSHA256})
	assert.Len(t, ranked(t, s, "B"), 10, "B's entry of the same value stays")
	checkRanked(t, s, "A", "B")
	merge(t, s, "A", []ioc.Indicator{sha(11, t1)}, t1)
	assert.Contains(t, ranked(t, s, "A"), rankedRow{Hash(11), ioc.TypeSHA256})
	checkRanked(t, s, "A", "B")

	// more pages, so that stores with a staging log fold between them
	for p := range 5 {
		var more []ioc.Indicator
		for i := range 20 {
			more = append(more, withSev(sha(p*7+i, t1.Add(time.Duration(p)*time.Minute)), ioc.Severity((p+i)%5)))
		}
		merge(t, s, "A", more, t1)
		checkRanked(t, s, "A", "B")
	}
}

func testRankedEdits(t *testing.T, s sharing.Store) {
	merge(t, s, "A", []ioc.Indicator{sha(1, t0), sha(2, t0), sha(3, t0)}, t0)
	merge(t, s, "B", []ioc.Indicator{sha(2, t0)}, t0)
	r, ok := record(t, s, Hash(1))
	require.True(t, ok)
	r.Entries[0].Severity = ioc.SeverityCritical
	r.Entries = append(r.Entries, sharing.Entry{Indicator: withSev(sha(1, t1), ioc.SeverityLow), StoredAt: t1})
	r.Entries[1].Source = "B"
	update(t, s, func(tx sharing.Tx) error { return tx.PutRecord(r) })
	assert.Equal(t, Hash(1), ranked(t, s, "A")[0].Value, "an edited severity moves the value")
	assert.Len(t, ranked(t, s, "B"), 2, "an entry added by an edit")
	checkRanked(t, s, "A", "B")

	r, _ = record(t, s, Hash(1))
	r.Entries[0].Inactive, r.Entries[0].InactiveAt = true, t1
	update(t, s, func(tx sharing.Tx) error { return tx.PutRecord(r) })
	assert.NotContains(t, ranked(t, s, "A"), rankedRow{Hash(1), ioc.TypeSHA256}, "an edit to inactive")
	checkRanked(t, s, "A", "B")

	update(t, s, func(tx sharing.Tx) error { return tx.DeleteRecord(Hash(2)) })
	assert.Equal(t, []rankedRow{{Hash(1), ioc.TypeSHA256}}, ranked(t, s, "B"), "a deleted record leaves")
	assert.Equal(t, []rankedRow{{Hash(3), ioc.TypeSHA256}}, ranked(t, s, "A"))
	checkRanked(t, s, "A", "B")
}

func testRankedInUpdateAndRollback(t *testing.T, s sharing.Store) {
	merge(t, s, "A", []ioc.Indicator{sha(1, t0), sha(2, t0)}, t0)
	update(t, s, func(tx sharing.Tx) error {
		if _, err := tx.Merge("A", []ioc.Indicator{withSev(sha(3, t1), ioc.SeverityHigh)}, t1); err != nil {
			return err
		}
		rows := rankedOf(t, tx, "A")
		require.Len(t, rows, 3, "the Update's own merge")
		assert.Equal(t, Hash(3), rows[0].Value)
		require.NoError(t, tx.SetInactive("A", []string{Hash(1)}, t1))
		assert.Len(t, rankedOf(t, tx, "A"), 2, "the Update's own SetInactive")
		return nil
	})
	// writes to two sources, then lookups, in one Update: what the Update
	// did before the lookups stays counted as it was written
	update(t, s, func(tx sharing.Tx) error {
		if _, err := tx.Merge("B", []ioc.Indicator{sha(5, t1), withSev(sha(6, t1), ioc.SeverityLow)}, t1); err != nil {
			return err
		}
		if _, err := tx.Merge("A", []ioc.Indicator{withSev(sha(7, t1), ioc.SeverityLow)}, t1); err != nil {
			return err
		}
		for i := range 8 {
			if _, _, err := tx.Record(Hash(100 + i)); err != nil {
				return err
			}
		}
		return nil
	})
	checkRanked(t, s, "A", "B")
	before := ranked(t, s, "A")
	boom := errors.New("boom")
	err := s.Update(t.Context(), func(tx sharing.Tx) error {
		if _, err := tx.Merge("A", []ioc.Indicator{withSev(sha(2, t1), ioc.SeverityCritical), sha(4, t1)}, t1); err != nil {
			return err
		}
		if err := tx.DeleteRecord(Hash(3)); err != nil {
			return err
		}
		return boom
	})
	require.ErrorIs(t, err, boom)
	assert.Equal(t, before, ranked(t, s, "A"), "a failed Update leaves the order as it was")
	checkRanked(t, s, "A")
}

func testRankedStopAndError(t *testing.T, s sharing.Store) {
	merge(t, s, "A", []ioc.Indicator{sha(1, t0), sha(2, t0), sha(3, t0)}, t0)
	boom := errors.New("boom")
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		rt := tx.(sharing.RankedTx)
		n := 0
		require.NoError(t, rt.Ranked("A", func(string, ioc.Type) error {
			n++
			return sharing.ErrStop
		}))
		assert.Equal(t, 1, n, "ErrStop ends the scan")
		n = 0
		err := rt.Ranked("A", func(string, ioc.Type) error {
			n++
			return boom
		})
		assert.ErrorIs(t, err, boom)
		assert.Equal(t, 1, n)
		return nil
	}))
}
