package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
)

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
	assert.Empty(t, Values(t, s))
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
		got := Values(t, s)
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
	want := Values(t, s)
	assert.Equal(t, want, seen, "every record seen once, in order, while writing")
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		return tx.Records(func(r *sharing.Record) error {
			assert.True(t, r.Entries[0].Inactive, r.Value)
			return nil
		})
	}))
}

func testRecordsNestedScan(t *testing.T, s sharing.Store) {
	merge(t, s, "A", []ioc.Indicator{sha(1, t0), sha(2, t0), sha(3, t0)}, t0)
	merge(t, s, "B", []ioc.Indicator{sha(2, t1)}, t1)
	want := Values(t, s)
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
