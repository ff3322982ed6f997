package boltstore

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
)

// TestFoldAfterTheCommit: a fold too small to write the records anew and
// larger than foldN is made after its Update's commit, foldN values a
// transaction: every value ends with its newest version, the log is
// emptied, and the file reads the same once opened again.
func TestFoldAfterTheCommit(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, withFoldAt(1<<20), withFoldChunk(7))
	require.NoError(t, err)
	mergeMD5(t, s, 0, 1000)
	require.NoError(t, s.Update(t.Context(), func(st sharing.Tx) error { return st.(*tx).foldOrRebuild() }))
	require.Equal(t, 1, s.rebuilt, "the first fold writes the records anew")
	require.Zero(t, StagedLen(s))

	// 10 values stored get a new severity, 20 are new: 30 values, 3% of
	// the records (not worth writing them anew), over foldN
	later := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	page := make([]ioc.Indicator, 0, 30)
	for i := range 30 {
		page = append(page, ioc.Indicator{Type: ioc.TypeMD5, Value: hex32(990 + i), Severity: ioc.SeverityCritical, LastSeen: later})
	}
	require.NoError(t, s.Update(t.Context(), func(tx sharing.Tx) error {
		_, err := tx.Merge("feed", page, later)
		return err
	}))
	require.Equal(t, 30, StagedLen(s))
	require.NoError(t, s.Update(t.Context(), func(st sharing.Tx) error { return st.(*tx).foldOrRebuild() }))
	assert.Equal(t, 1, s.foldsAfter, "folded after the commit")
	assert.Equal(t, 1, s.rebuilt, "not written anew")
	assert.Zero(t, StagedLen(s), "the log is emptied")
	assert.Zero(t, len(s.idx.Load().m), "and its index")

	check := func(s *Store) {
		t.Helper()
		n := 0
		require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
			return tx.Records(func(r *sharing.Record) error {
				n++
				return nil
			})
		}))
		assert.Equal(t, 1020, n)
		require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
			for i := 985; i < 1020; i++ {
				r, ok, err := tx.Record(hex32(i))
				require.NoError(t, err)
				require.True(t, ok, i)
				want := ioc.SeverityUnknown
				if i >= 990 {
					want = ioc.SeverityCritical
				}
				assert.Equal(t, want, r.Entries[0].Severity, i)
			}
			return nil
		}))
	}
	check(s)
	require.NoError(t, s.Close())
	s, err = Open(path)
	require.NoError(t, err)
	defer s.Close()
	check(s)
	assert.NoError(t, s.Check(t.Context()))
}

// TestFoldAfterFailureKeepsTheLog makes a fold after the commit fail in its
// second transaction (a staged blob it needs is gone): the Update says its
// own writes are stored and the fold failed; the first transaction's values
// are in the records bucket, the rest are not, and every value still reads
// from the log, which stays whole.
func TestFoldAfterFailureKeepsTheLog(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, withFoldAt(1<<20), withFoldChunk(2))
	require.NoError(t, err)
	mergeMD5(t, s, 1000, 100)
	require.NoError(t, s.Update(t.Context(), func(st sharing.Tx) error { return st.(*tx).foldOrRebuild() }))
	mergeMD5(t, s, 500, 3) // the blob lost below: needed by the second and third transactions
	mergeMD5(t, s, 100, 3) // folded by the first two
	require.NoError(t, s.db.Update(func(btx *bolt.Tx) error {
		k, _ := btx.Bucket(bStaged).Cursor().First()
		return btx.Bucket(bStaged).Delete(k)
	}))
	err = s.Update(t.Context(), func(st sharing.Tx) error { return st.(*tx).foldOrRebuild() })
	require.ErrorIs(t, err, errCorrupt)
	require.ErrorContains(t, err, "the update is stored; folding the staging log failed")
	assert.Zero(t, s.foldsAfter)

	raw := func(v string) bool {
		var ok bool
		require.NoError(t, s.db.View(func(btx *bolt.Tx) error {
			ok = btx.Bucket(bRecords).Get([]byte(v)) != nil
			return nil
		}))
		return ok
	}
	for _, i := range []int{100, 101} {
		assert.True(t, raw(hex32(i)), "%d: folded by a transaction that committed", i)
	}
	for _, i := range []int{102, 500, 501, 502} {
		assert.False(t, raw(hex32(i)), "%d: not folded", i)
	}
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		for _, i := range []int{100, 101, 102, 1000} {
			_, ok, err := tx.Record(hex32(i))
			require.NoError(t, err)
			require.True(t, ok, i)
		}
		return nil
	}))
	assert.Equal(t, 3, StagedLen(s), "the log stays (less the lost blob)")
	require.NoError(t, s.db.Close())

	// opened again, the next fold after the commit puts what the log holds
	// (the values of the first transaction again) and empties it
	s, err = Open(path, withFoldChunk(2))
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Update(t.Context(), func(st sharing.Tx) error { return st.(*tx).foldOrRebuild() }))
	assert.Equal(t, 1, s.foldsAfter)
	assert.Zero(t, StagedLen(s))
	for _, i := range []int{100, 101, 102} {
		assert.True(t, raw(hex32(i)), "%d: folded", i)
	}
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		for _, i := range []int{100, 101, 102, 1000} {
			_, ok, err := tx.Record(hex32(i))
			require.NoError(t, err)
			require.True(t, ok, i)
		}
		return nil
	}))
	assert.NoError(t, s.Check(t.Context()))
}

// TestDamageInAFoldAfterTheCommitKeepsTheUpdate meets a damaged page (a
// bbolt assertion) in the second transaction of a fold after the commit:
// the Update says the file is damaged, and what it committed stays visible
// to the process, as it is in the file (it was once taken back from the
// staging index, so reads went back to the version before it).
func TestDamageInAFoldAfterTheCommitKeepsTheUpdate(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, withFoldAt(1<<20), withFoldChunk(2))
	require.NoError(t, err)
	mergeMD5(t, s, 0, 100)
	require.NoError(t, s.Update(t.Context(), func(st sharing.Tx) error { return st.(*tx).fold() }))
	s.foldHook = func(part int) {
		if part == 1 {
			panic("assertion failed: a damaged page (simulated)")
		}
	}
	later := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	page := make([]ioc.Indicator, 0, 6)
	for i := range 6 {
		page = append(page, ioc.Indicator{Type: ioc.TypeMD5, Value: hex32(i), Severity: ioc.SeverityCritical, LastSeen: later})
	}
	err = s.Update(t.Context(), func(st sharing.Tx) error {
		if _, err := st.Merge("feed", page, later); err != nil {
			return err
		}
		return st.(*tx).foldOrRebuild()
	})
	require.ErrorIs(t, err, ErrDamaged)
	assert.ErrorContains(t, err, "the update is stored")
	s.foldHook = nil
	severities := func(s *Store) []ioc.Severity {
		var out []ioc.Severity
		require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
			for i := range 6 {
				r, ok, err := tx.Record(hex32(i))
				require.NoError(t, err)
				require.True(t, ok, i)
				out = append(out, r.Entries[0].Severity)
			}
			return nil
		}))
		return out
	}
	want := []ioc.Severity{ioc.SeverityCritical, ioc.SeverityCritical, ioc.SeverityCritical, ioc.SeverityCritical, ioc.SeverityCritical, ioc.SeverityCritical}
	assert.Equal(t, want, severities(s), "the committed Update, in this process")
	require.NoError(t, s.Close())
	s, err = Open(path)
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, want, severities(s), "and in the file")
}

// TestDeleteFoldsOnlyForAStagedValue: deleting a value only in the records
// bucket leaves the staging log as it is; deleting a staged value folds the
// log first, so that no staged version outlives the delete. Both values are
// gone, in this process and once the file is opened again.
func TestDeleteFoldsOnlyForAStagedValue(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, withFoldAt(1<<20))
	require.NoError(t, err)
	mergeMD5(t, s, 0, 10)
	require.NoError(t, s.Update(t.Context(), func(st sharing.Tx) error { return st.(*tx).fold() }))
	mergeMD5(t, s, 100, 5)
	require.Equal(t, 5, StagedLen(s))
	del := func(v string) {
		t.Helper()
		require.NoError(t, s.Update(t.Context(), func(tx sharing.Tx) error { return tx.DeleteRecord(v) }))
	}
	del(hex32(3))
	assert.Equal(t, 5, StagedLen(s), "the log is not folded for a value it does not hold")
	del(hex32(101))
	assert.Zero(t, StagedLen(s), "folded: the staged version would outlive the delete")

	check := func(s *Store) {
		t.Helper()
		require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
			for v, want := range map[string]bool{hex32(3): false, hex32(101): false, hex32(4): true, hex32(100): true} {
				_, ok, err := tx.Record(v)
				require.NoError(t, err)
				assert.Equal(t, want, ok, v)
			}
			n := 0
			require.NoError(t, tx.Records(func(*sharing.Record) error { n++; return nil }))
			assert.Equal(t, 13, n)
			return nil
		}))
	}
	check(s)
	require.NoError(t, s.Close())
	s, err = Open(path)
	require.NoError(t, err)
	defer s.Close()
	check(s)
	assert.NoError(t, s.Check(t.Context()))
}
