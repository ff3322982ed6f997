package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
)

// check is one named check of the suite, the type of checks' elements (an
// alias, so that a file's checks append to checks as a []check).
type check = struct {
	name string
	fn   func(t *testing.T, s sharing.Store)
}

// The checks of the operator's edits: PutRecord, DeleteRecord and marks.
func init() {
	checks = append(checks, []check{
		{"PutRecordReplacesEntries", testPutRecord},
		{"PutRecordRejectsBadInput", testPutRecordRejectsBadInput},
		{"DeleteRecord", testDeleteRecord},
		{"EditsRollBack", testEditsRollBack},
		{"Marks", testMarks},
		{"EditsReadOnly", testEditsReadOnly},
	}...)
}

func testPutRecord(t *testing.T, s sharing.Store) {
	merge(t, s, "A", []ioc.Indicator{sha(1, t0), sha(2, t0)}, t0)
	merge(t, s, "B", []ioc.Indicator{sha(1, t1)}, t1)
	r, ok := record(t, s, Hash(1))
	require.True(t, ok)
	require.Len(t, r.Entries, 2)
	// untag A's entry, tag B's, mark B's inactive; given in reverse source order
	a, b := r.Entries[0], r.Entries[1]
	a.Tags = nil
	b.Tags = []string{"malware", "reviewed"}
	b.Inactive, b.InactiveAt = true, t2
	update(t, s, func(tx sharing.Tx) error {
		if err := tx.PutRecord(sharing.Record{Type: r.Type, Value: r.Value, Entries: []sharing.Entry{b, a}}); err != nil {
			return err
		}
		got, ok, err := tx.Record(Hash(1)) // visible inside the transaction
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, []string{"malware", "reviewed"}, got.Entries[1].Tags)
		return nil
	})
	got, ok := record(t, s, Hash(1))
	require.True(t, ok)
	require.Equal(t, []string{"A", "B"}, got.Sources(), "entries sorted by source")
	assert.Empty(t, got.Entries[0].Tags)
	assert.Equal(t, []string{"malware", "reviewed"}, got.Entries[1].Tags)
	assert.True(t, got.Entries[1].Inactive)
	assert.Equal(t, t2, got.Entries[1].InactiveAt)
	assert.Equal(t, t1, got.Entries[1].StoredAt)
	assert.Equal(t, []string{Hash(1), Hash(2)}, sortedValues(t, s))

	// a new value
	n := sha(9, t2)
	n.Source = "manual"
	update(t, s, func(tx sharing.Tx) error {
		return tx.PutRecord(sharing.Record{Type: n.Type, Value: n.Value, Entries: []sharing.Entry{{Indicator: n, StoredAt: t2}}})
	})
	got, ok = record(t, s, Hash(9))
	require.True(t, ok)
	assert.Equal(t, []string{"manual"}, got.Sources())
	assert.Len(t, Values(t, s), 3)
	// a merge after an edit combines with the edited entry
	st := merge(t, s, "manual", []ioc.Indicator{sha(9, t2)}, t2)
	assert.Equal(t, 1, st.Updated)
}

func sortedValues(t *testing.T, s sharing.Store) []string {
	t.Helper()
	v := Values(t, s)
	assert.IsNonDecreasing(t, v)
	return v
}

func testPutRecordRejectsBadInput(t *testing.T, s sharing.Store) {
	good := sha(1, t0)
	good.Source = "A"
	other := sha(2, t0)
	other.Source = "B"
	bad := good
	bad.Value = "NOT-NORMAL"
	cases := map[string]sharing.Record{
		"no entries":     {Type: ioc.TypeSHA256, Value: Hash(1)},
		"other value":    {Type: ioc.TypeSHA256, Value: Hash(1), Entries: []sharing.Entry{{Indicator: other}}},
		"unnamed source": {Type: ioc.TypeSHA256, Value: Hash(1), Entries: []sharing.Entry{{Indicator: ioc.Indicator{Type: ioc.TypeSHA256, Value: Hash(1)}}}},
		"source twice":   {Type: ioc.TypeSHA256, Value: Hash(1), Entries: []sharing.Entry{{Indicator: good}, {Indicator: good}}},
		"not normal":     {Type: ioc.TypeSHA256, Value: "NOT-NORMAL", Entries: []sharing.Entry{{Indicator: bad}}},
	}
	for name, r := range cases {
		err := s.Update(t.Context(), func(tx sharing.Tx) error { return tx.PutRecord(r) })
		assert.Error(t, err, name)
	}
	assert.Empty(t, Values(t, s))
}

func testDeleteRecord(t *testing.T, s sharing.Store) {
	in := make([]ioc.Indicator, 50)
	for i := range in {
		in[i] = sha(i, t0)
	}
	merge(t, s, "A", in, t0)
	update(t, s, func(tx sharing.Tx) error {
		if err := tx.DeleteRecord(Hash(7)); err != nil {
			return err
		}
		if err := tx.DeleteRecord("unknown"); err != nil {
			return err
		}
		_, ok, err := tx.Record(Hash(7))
		require.NoError(t, err)
		assert.False(t, ok, "deleted inside the transaction")
		n := 0
		require.NoError(t, tx.Records(func(*sharing.Record) error { n++; return nil }))
		assert.Equal(t, 49, n)
		return nil
	})
	_, ok := record(t, s, Hash(7))
	assert.False(t, ok)
	assert.Len(t, sortedValues(t, s), 49)
	// deleting during a scan of the records
	update(t, s, func(tx sharing.Tx) error {
		return tx.Records(func(r *sharing.Record) error {
			if r.Value < Hash(20) {
				return tx.DeleteRecord(r.Value)
			}
			return nil
		})
	})
	for _, v := range Values(t, s) {
		assert.GreaterOrEqual(t, v, Hash(20))
	}
	// stored again after a delete: a new record
	st := merge(t, s, "A", []ioc.Indicator{sha(7, t1)}, t1)
	assert.Equal(t, 1, st.New)
}

func testEditsRollBack(t *testing.T, s sharing.Store) {
	merge(t, s, "A", []ioc.Indicator{sha(1, t0), sha(2, t0)}, t0)
	update(t, s, func(tx sharing.Tx) error {
		return tx.PutMark(sharing.Mark{Value: Hash(1), Type: ioc.TypeSHA256, Kind: sharing.MarkSafe, Reason: "fp", At: t0})
	})
	before := snap(t, s)
	marksBefore := marks(t, s)
	boom := errors.New("boom")
	err := s.Update(t.Context(), func(tx sharing.Tx) error {
		r, _, err := tx.Record(Hash(2))
		require.NoError(t, err)
		r.Entries[0].Tags = []string{"edited"}
		require.NoError(t, tx.PutRecord(r))
		require.NoError(t, tx.DeleteRecord(Hash(2))) // edited, then deleted
		require.NoError(t, tx.DeleteRecord(Hash(1)))
		n := sha(3, t1)
		n.Source = "manual"
		require.NoError(t, tx.PutRecord(sharing.Record{Type: n.Type, Value: n.Value, Entries: []sharing.Entry{{Indicator: n}}}))
		require.NoError(t, tx.DeleteMark(Hash(1)))
		require.NoError(t, tx.PutMark(sharing.Mark{Value: Hash(2), Type: ioc.TypeSHA256, Kind: sharing.MarkDeleted, At: t1}))
		return boom
	})
	require.ErrorIs(t, err, boom)
	assert.Equal(t, before, snap(t, s), "a failed Update leaves no trace of edits")
	assert.Equal(t, marksBefore, marks(t, s))
	merge(t, s, "A", []ioc.Indicator{sha(4, t1)}, t1) // still usable
	assert.Len(t, Values(t, s), 3)
}

func marks(t *testing.T, s sharing.Store) []sharing.Mark {
	t.Helper()
	var out []sharing.Mark
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		return tx.Marks(func(m sharing.Mark) error {
			out = append(out, m)
			return nil
		})
	}))
	return out
}

func testMarks(t *testing.T, s sharing.Store) {
	assert.Empty(t, marks(t, s))
	update(t, s, func(tx sharing.Tx) error {
		for _, m := range []sharing.Mark{
			{Value: Hash(2), Type: ioc.TypeSHA256, Kind: sharing.MarkSafe, Reason: "vendor says benign", At: t0.In(time.FixedZone("x", 3600))},
			{Value: "example.com", Type: ioc.TypeDomain, Kind: sharing.MarkDeleted, At: t1},
			{Value: Hash(1), Type: ioc.TypeSHA256, Kind: sharing.MarkSafe, At: t1},
		} {
			if err := tx.PutMark(m); err != nil {
				return err
			}
		}
		return tx.PutMark(sharing.Mark{Value: Hash(1), Type: ioc.TypeSHA256, Kind: sharing.MarkSafe, Reason: "again", At: t2})
	})
	got := marks(t, s)
	require.Len(t, got, 3)
	for i := 1; i < len(got); i++ {
		assert.Less(t, got[i-1].Value, got[i].Value, "value order")
	}
	byValue := map[string]sharing.Mark{}
	for _, m := range got {
		byValue[m.Value] = m
	}
	assert.Equal(t, sharing.Mark{Value: Hash(1), Type: ioc.TypeSHA256, Kind: sharing.MarkSafe, Reason: "again", At: t2}, byValue[Hash(1)])
	assert.Equal(t, t0, byValue[Hash(2)].At, "times in UTC")
	assert.Equal(t, sharing.MarkDeleted, byValue["example.com"].Kind)

	// ErrStop ends the scan; another error is returned
	n := 0
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		return tx.Marks(func(sharing.Mark) error { n++; return sharing.ErrStop })
	}))
	assert.Equal(t, 1, n)
	boom := errors.New("boom")
	err := s.View(t.Context(), func(tx sharing.Tx) error {
		return tx.Marks(func(sharing.Mark) error { return boom })
	})
	assert.ErrorIs(t, err, boom)

	update(t, s, func(tx sharing.Tx) error {
		if err := tx.DeleteMark(Hash(2)); err != nil {
			return err
		}
		return tx.DeleteMark("never marked")
	})
	assert.Len(t, marks(t, s), 2)

	for name, m := range map[string]sharing.Mark{
		"empty value":  {Type: ioc.TypeSHA256, Kind: sharing.MarkSafe},
		"no type":      {Value: Hash(3), Kind: sharing.MarkSafe},
		"unknown kind": {Value: Hash(3), Type: ioc.TypeSHA256},
	} {
		err := s.Update(t.Context(), func(tx sharing.Tx) error { return tx.PutMark(m) })
		assert.Error(t, err, name)
	}
	assert.Len(t, marks(t, s), 2)
}

func testEditsReadOnly(t *testing.T, s sharing.Store) {
	merge(t, s, "A", []ioc.Indicator{sha(1, t0)}, t0)
	r, _ := record(t, s, Hash(1))
	writes := map[string]func(tx sharing.Tx) error{
		"PutRecord":    func(tx sharing.Tx) error { return tx.PutRecord(r) },
		"DeleteRecord": func(tx sharing.Tx) error { return tx.DeleteRecord(Hash(1)) },
		"PutMark": func(tx sharing.Tx) error {
			return tx.PutMark(sharing.Mark{Value: Hash(1), Type: ioc.TypeSHA256, Kind: sharing.MarkSafe})
		},
		"DeleteMark": func(tx sharing.Tx) error { return tx.DeleteMark(Hash(1)) },
	}
	for name, w := range writes {
		require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
			assert.ErrorIs(t, w(tx), sharing.ErrReadOnly, name)
			return nil
		}))
	}
	_, ok := record(t, s, Hash(1))
	assert.True(t, ok)
}
