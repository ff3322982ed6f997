package boltstore

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
)

// TestFilterBuiltInARolledBackUpdate: the key filter is built (after
// filterAfter lookups) inside an Update that deleted a record and then
// failed. The record is back in the file: the filter is dropped with the
// Update, so the next Merge of the value finds its record and adds an entry
// to it. The filter kept no key of it, and that Merge took the value for new
// and wrote over its record, its entries lost and its ranked key left behind.
func TestFilterBuiltInARolledBackUpdate(t *testing.T) {
	t.Parallel()
	s, _ := foldedStore(t, 0, 10) // hex32(0..9) in the records bucket, log empty
	defer s.Close()
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	v := hex32(3)

	err := s.Update(t.Context(), func(tx sharing.Tx) error {
		if err := tx.DeleteRecord(v); err != nil {
			return err
		}
		for i := range filterAfter { // e.g. an operator's Delete of many values
			if _, _, err := tx.Record(hex32(1000 + i)); err != nil {
				return err
			}
		}
		return errors.New("fail") // rolled back: v's record is kept
	})
	require.Error(t, err)
	r, ok, err := record(s, v)
	require.NoError(t, err)
	require.True(t, ok, "the failed Update deleted nothing")
	require.Len(t, r.Entries, 1)

	// another source reports v
	require.NoError(t, s.Update(t.Context(), func(tx sharing.Tx) error {
		st, err := tx.Merge("other", []ioc.Indicator{{Type: ioc.TypeMD5, Value: v, LastSeen: at}}, at)
		assert.Equal(t, sharing.MergeStats{Added: 1}, st, "v is stored: the merge adds an entry")
		return err
	}))
	r, _, err = record(s, v)
	require.NoError(t, err)
	var srcs []string
	for _, e := range r.Entries {
		srcs = append(srcs, e.Source)
	}
	assert.Equal(t, []string{"feed", "other"}, srcs, "the entry of feed is kept")

	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		n := 0
		_ = tx.(sharing.RankedTx).Ranked("feed", func(string, ioc.Type) error { n++; return nil })
		c, _ := tx.(sharing.RankedTx).RankedCount("feed", func(ioc.Type) bool { return true })
		var recs int
		_ = tx.Records(func(r *sharing.Record) error {
			for _, e := range r.Entries {
				if e.Source == "feed" && !e.Inactive {
					recs++
				}
			}
			return nil
		})
		assert.Equal(t, recs, n, "ranked keys of feed match its active entries")
		assert.Equal(t, recs, c, "rankedN of feed")
		return nil
	}))
}
