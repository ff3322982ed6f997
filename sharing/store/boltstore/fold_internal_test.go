package boltstore

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/storetest"
)

// foldedStore opens a new state file that folds only when told to
// (foldNow), with n values from hex32(from) on in its records bucket, the
// log empty.
func foldedStore(t *testing.T, from, n int, opts ...Option) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, append([]Option{withFoldAt(1 << 20)}, opts...)...)
	require.NoError(t, err)
	mergeMD5(t, s, from, n)
	foldNow(t, s)
	require.Zero(t, StagedLen(s))
	return s, path
}

// checkReopened runs check on s, closes it, and runs check again on the
// file opened anew, which must check sound.
func checkReopened(t *testing.T, s *Store, path string, check func(*Store)) {
	t.Helper()
	check(s)
	require.NoError(t, s.Close())
	s, err := Open(path)
	require.NoError(t, err)
	defer s.Close()
	check(s)
	assert.NoError(t, s.Check(t.Context()))
}

// TestFoldAfterTheCommit: a fold too small to write the records anew and
// larger than foldN is made after its Update's commit, foldN values a
// transaction: every value ends with its newest version, the log is
// emptied, and the file reads the same once opened again.
func TestFoldAfterTheCommit(t *testing.T) {
	t.Parallel()
	s, path := foldedStore(t, 0, 1000, withFoldChunk(7))
	require.Equal(t, 1, s.rebuilt, "the first fold writes the records anew")

	// 10 values stored get a new severity, 20 are new: 30 values, 3% of
	// the records (not worth writing them anew), over foldN
	mergeSeen(t, s, 990, 30, ioc.SeverityCritical, time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC))
	require.Equal(t, 30, StagedLen(s))
	foldNow(t, s)
	assert.Equal(t, 1, s.foldsAfter, "folded after the commit")
	assert.Equal(t, 1, s.rebuilt, "not written anew")
	assert.Zero(t, StagedLen(s), "the log is emptied")
	assert.Zero(t, len(s.idx.Load().heads), "and its index")

	want := slices.Concat(slices.Repeat([]ioc.Severity{ioc.SeverityUnknown}, 5), slices.Repeat([]ioc.Severity{ioc.SeverityCritical}, 30))
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
		assert.Equal(t, want, severities(t, s, 985, 1020))
	}
	checkReopened(t, s, path, check)
}

// TestFoldAfterFailureKeepsTheLog makes a fold after the commit fail (a
// staged blob its index names is gone): the Update says its own writes are
// stored and the fold failed; the fold finds it out before it puts
// anything, so no value is in the records bucket, and every value still
// reads from the log, which stays whole.
func TestFoldAfterFailureKeepsTheLog(t *testing.T) {
	t.Parallel()
	s, path := foldedStore(t, 1000, 100, withFoldChunk(2))
	mergeMD5(t, s, 500, 3) // the blob lost below
	mergeMD5(t, s, 100, 3)
	require.NoError(t, s.db.Update(func(btx *bolt.Tx) error {
		k, _ := btx.Bucket(bStaged).Cursor().First()
		return btx.Bucket(bStaged).Delete(k)
	}))
	err := s.Update(t.Context(), func(st sharing.Tx) error { return st.(*tx).foldOrRebuild() })
	require.ErrorIs(t, err, errCorrupt)
	require.ErrorContains(t, err, "the update is stored; folding the staging log failed")
	assert.Zero(t, s.foldsAfter)

	require.ErrorContains(t, err, "a staged blob is missing")
	for _, i := range []int{100, 101, 102, 500, 501, 502} {
		assert.False(t, rawRecord(t, s, hex32(i)), "%d: not folded", i)
	}
	for _, i := range []int{100, 101, 102, 1000} {
		_, ok, err := record(s, hex32(i))
		require.NoError(t, err)
		require.True(t, ok, i)
	}
	assert.Equal(t, 3, StagedLen(s), "the log stays (less the lost blob)")
	require.NoError(t, s.db.Close())

	// opened again, the next fold after the commit puts what the log holds
	// and empties it
	s, err = Open(path, withFoldChunk(2))
	require.NoError(t, err)
	defer s.Close()
	foldNow(t, s)
	assert.Equal(t, 1, s.foldsAfter)
	assert.Zero(t, StagedLen(s))
	for _, i := range []int{100, 101, 102} {
		assert.True(t, rawRecord(t, s, hex32(i)), "%d: folded", i)
	}
	for _, i := range []int{100, 101, 102, 1000} {
		_, ok, err := record(s, hex32(i))
		require.NoError(t, err)
		require.True(t, ok, i)
	}
	assert.NoError(t, s.Check(t.Context()))
}

// TestFoldAfterFailureBetweenTransactions makes a fold after the commit
// fail in its second transaction: the first transaction's values are in the
// records bucket, the rest are not, every value still reads from the log,
// which stays whole, and the next fold puts them all and empties it.
func TestFoldAfterFailureBetweenTransactions(t *testing.T) {
	t.Parallel()
	s, path := foldedStore(t, 1000, 100, withFoldChunk(2))
	mergeMD5(t, s, 500, 3)
	mergeMD5(t, s, 100, 3) // in value order, 100 and 101 are the first transaction's
	s.foldHook = func(part int) error {
		if part == 1 {
			return errors.New("disk full (simulated)")
		}
		return nil
	}
	err := s.Update(t.Context(), func(st sharing.Tx) error { return st.(*tx).foldOrRebuild() })
	require.ErrorContains(t, err, "disk full (simulated)")
	require.ErrorContains(t, err, "the update is stored; folding the staging log failed")
	s.foldHook = nil
	for i, want := range map[int]bool{100: true, 101: true, 102: false, 500: false, 501: false, 502: false} {
		assert.Equal(t, want, rawRecord(t, s, hex32(i)), "%d in the records bucket", i)
	}
	for _, i := range []int{100, 101, 102, 500, 501, 502, 1000} {
		_, ok, err := record(s, hex32(i))
		require.NoError(t, err)
		require.True(t, ok, i)
	}
	assert.Equal(t, 6, StagedLen(s), "the log stays")
	foldNow(t, s)
	assert.Equal(t, 1, s.foldsAfter)
	assert.Zero(t, StagedLen(s))
	for _, i := range []int{100, 101, 102, 500, 501, 502} {
		assert.True(t, rawRecord(t, s, hex32(i)), "%d: folded", i)
	}
	require.NoError(t, s.Close())
	s, err = Open(path)
	require.NoError(t, err)
	defer s.Close()
	assert.NoError(t, s.Check(t.Context()))
}

// rawRecord reports whether v is in the records bucket (not the log).
func rawRecord(t *testing.T, s *Store, v string) bool {
	t.Helper()
	var ok bool
	require.NoError(t, s.db.View(func(btx *bolt.Tx) error {
		ok = btx.Bucket(bRecords).Get([]byte(v)) != nil
		return nil
	}))
	return ok
}

// TestFoldInTheUpdateFindsALostBlob: a fold made inside its Update (here
// by a Records call) whose log lost a blob fails, and the Update with it,
// instead of emptying the log without the values of that blob.
func TestFoldInTheUpdateFindsALostBlob(t *testing.T) {
	t.Parallel()
	s, _ := foldedStore(t, 1000, 10)
	mergeMD5(t, s, 500, 3) // the blob lost below
	mergeMD5(t, s, 100, 3)
	require.NoError(t, s.db.Update(func(btx *bolt.Tx) error {
		k, _ := btx.Bucket(bStaged).Cursor().First()
		return btx.Bucket(bStaged).Delete(k)
	}))
	err := s.Update(t.Context(), func(st sharing.Tx) error {
		return st.Records(func(*sharing.Record) error { return nil })
	})
	require.ErrorIs(t, err, errCorrupt)
	require.ErrorContains(t, err, "a staged blob is missing or changed")
	assert.Equal(t, 3, StagedLen(s), "the log is as it was")
	for _, i := range []int{100, 101, 102} {
		_, ok, err := record(s, hex32(i))
		require.NoError(t, err)
		assert.True(t, ok, i)
		assert.False(t, rawRecord(t, s, hex32(i)), "%d: not folded", i)
	}
}

// TestDamageInAFoldAfterTheCommitKeepsTheUpdate meets a damaged page (a
// bbolt assertion) in the second transaction of a fold after the commit:
// the Update says the file is damaged, and what it committed stays visible
// to the process, as it is in the file (it was once taken back from the
// staging index, so reads went back to the version before it).
func TestDamageInAFoldAfterTheCommitKeepsTheUpdate(t *testing.T) {
	t.Parallel()
	s, path := foldedStore(t, 0, 100, withFoldChunk(2))
	s.foldHook = func(part int) error {
		if part == 1 {
			panic("assertion failed: a damaged page (simulated)")
		}
		return nil
	}
	later := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	err := s.Update(t.Context(), func(st sharing.Tx) error {
		if _, err := st.Merge("feed", md5Page(0, 6, ioc.SeverityCritical, later), later); err != nil {
			return err
		}
		return st.(*tx).foldOrRebuild()
	})
	require.ErrorIs(t, err, ErrDamaged)
	assert.ErrorContains(t, err, "the update is stored")
	s.foldHook = nil
	want := slices.Repeat([]ioc.Severity{ioc.SeverityCritical}, 6)
	assert.Equal(t, want, severities(t, s, 0, 6), "the committed Update, in this process")
	require.NoError(t, s.Close())
	s, err = Open(path)
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, want, severities(t, s, 0, 6), "and in the file")
}

// TestDeleteStagesATombstone: deleting a value only in the records bucket
// deletes it there; deleting a staged value stages a tombstone after it
// (an empty record), and neither folds the log. The values are gone, in
// this process, for a View begun before the delete (which still reads
// them), once the file is opened again, and once the log is folded, each
// way: inside an Update, after the commit, or writing the records anew (a
// tombstone last in a transaction must not let the next one write the
// stored version it replaced). A value merged after its delete is back.
func TestDeleteStagesATombstone(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string][]Option{
		"in the update": nil,
		"after":         {withFoldChunk(1)},
		"written anew":  {withRebuild(1)},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, path := foldedStore(t, 0, 10, opts...)
			mergeSeen(t, s, 4, 3, ioc.SeverityHigh, time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)) // 4 to 6 stored, and staged again
			mergeMD5(t, s, 100, 5)
			require.Equal(t, 8, StagedLen(s))
			del := func(v string) {
				t.Helper()
				require.NoError(t, s.Update(t.Context(), func(tx sharing.Tx) error { return tx.DeleteRecord(v) }))
			}
			want := map[string]bool{hex32(3): false, hex32(5): false, hex32(101): false, hex32(4): true, hex32(100): true, hex32(6): true}
			check := func(s *Store) {
				t.Helper()
				require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
					for v, want := range want {
						_, ok, err := tx.Record(v)
						require.NoError(t, err)
						assert.Equal(t, want, ok, v)
					}
					n := 0
					require.NoError(t, tx.Records(func(*sharing.Record) error { n++; return nil }))
					assert.Equal(t, 12, n)
					return nil
				}))
			}
			require.NoError(t, s.View(t.Context(), func(before sharing.Tx) error {
				del(hex32(3))
				assert.Equal(t, 8, StagedLen(s), "nothing staged for a value only in the records bucket")
				del(hex32(5))
				del(hex32(101))
				assert.Equal(t, 10, StagedLen(s), "two tombstones, no fold")
				assert.False(t, rawRecord(t, s, hex32(5)), "deleted from the records bucket too")
				for _, v := range []string{hex32(3), hex32(5), hex32(101)} {
					_, ok, err := before.Record(v)
					require.NoError(t, err)
					assert.True(t, ok, "a View begun before the delete reads %s", v)
				}
				return nil
			}))
			check(s)
			require.NoError(t, s.Close())
			s, err := Open(path, opts...)
			require.NoError(t, err)
			defer s.Close()
			check(s)
			foldNow(t, s)
			assert.Zero(t, StagedLen(s))
			for _, v := range []string{hex32(3), hex32(5), hex32(101)} {
				assert.False(t, rawRecord(t, s, v), "%s: the fold deleted it", v)
			}
			check(s)
			mergeMD5(t, s, 5, 1)
			want[hex32(5)] = true
			_, ok, err := record(s, hex32(5))
			require.NoError(t, err)
			assert.True(t, ok, "merged again after its delete")
			assert.NoError(t, s.Check(t.Context()))
		})
	}
}

// TestLogFoldsSoonerInALargeStore: a log of an eighth of foldAt versions is
// folded by the Merge that reaches it only when the records bucket holds at
// least as many values; a store without records (a first sync) keeps it
// until foldAt.
func TestLogFoldsSoonerInALargeStore(t *testing.T) {
	t.Parallel()
	s, err := Open(filepath.Join(t.TempDir(), "state.db"), withFoldAt(8000))
	require.NoError(t, err)
	defer s.Close()
	useFilter := func() {
		require.NoError(t, s.db.View(func(btx *bolt.Tx) error {
			s.filter = buildFilter(btx.Bucket(bRecords)) // as after filterAfter lookups
			return nil
		}))
	}
	useFilter()
	mergeMD5(t, s, 0, 1500)
	assert.Equal(t, 1500, StagedLen(s), "no records: the log stays")
	foldNow(t, s)
	useFilter()
	mergeMD5(t, s, 2000, 600)
	assert.Equal(t, 600, StagedLen(s), "under an eighth of foldAt")
	mergeMD5(t, s, 3000, 500)
	assert.Zero(t, StagedLen(s), "1,100 versions, 1,500 records: folded")
	assert.Len(t, severities(t, s, 2000, 2600), 600)
	assert.Len(t, severities(t, s, 3000, 3500), 500)
	assert.True(t, rawRecord(t, s, hex32(3499)), "in the records bucket")
}

// TestFoldAfterKeepsTheKeyFilter: a fold after the commit adds the values
// it puts to the records' key filter, so that a later Merge finds them (a
// filter without them would have the Merge take a stored value for a new
// one, and write over its record).
func TestFoldAfterKeepsTheKeyFilter(t *testing.T) {
	t.Parallel()
	s, _ := foldedStore(t, 0, 100, withFoldChunk(2))
	require.NoError(t, s.db.View(func(btx *bolt.Tx) error {
		s.filter = buildFilter(btx.Bucket(bRecords)) // as after filterAfter lookups
		return nil
	}))
	mergeMD5(t, s, 1000, 10)
	foldNow(t, s)
	require.Equal(t, 1, s.foldsAfter)
	require.Zero(t, StagedLen(s))
	later := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	require.NoError(t, s.Update(t.Context(), func(tx sharing.Tx) error {
		st, err := tx.Merge("feed", md5Page(1000, 10, ioc.SeverityHigh, later), later)
		assert.Equal(t, sharing.MergeStats{Updated: 10}, st)
		return err
	}))
}

// TestCloseFoldsFrom65536: with the default fold threshold (4M versions),
// Close folds a log of 65,536 versions or more and leaves a smaller one.
func TestCloseFoldsFrom65536(t *testing.T) {
	t.Parallel()
	for n, staysStaged := range map[int]int{1<<16 - 1: 1<<16 - 1, 1 << 16: 0} {
		path := filepath.Join(t.TempDir(), "state.db")
		s, err := Open(path)
		require.NoError(t, err)
		mergeMD5(t, s, 0, n)
		require.NoError(t, s.Close())
		s, err = Open(path)
		require.NoError(t, err)
		assert.Equal(t, staysStaged, StagedLen(s), "%d versions", n)
		require.NoError(t, s.Close())
	}
}

// TestOpenWithTheFirstMetaPageLost: a file whose first page is overwritten
// is still a cte store: its second meta page is looked for where each page
// size would put it (16 KiB here), as bbolt does, and the file opens from it.
func TestOpenWithTheFirstMetaPageLost(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path)
	require.NoError(t, err)
	mergeMD5(t, s, 0, 10)
	require.NoError(t, s.Close())
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt(make([]byte, 4096), 0)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.NoError(t, checkMeta(path))
	s, err = Open(path)
	require.NoError(t, err, "opened from its second meta page")
	require.NoError(t, s.Close())
}

// TestFoldsOrderValuesOfOnePrefix stages values whose first 8 bytes are all
// the same (hex32: zeros), in pages that interleave, over records some of
// them already have: a fold sorts the newest versions by those bytes first
// and by the values only where they tie, and must still merge them in
// value order with the records. Written anew (a log of 90 values into 40
// records) and in place after the commit (into 2,000 records, 7 a
// transaction), every value ends once, with its staged version.
func TestFoldsOrderValuesOfOnePrefix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		records int
		rebuilt bool
	}{{"written anew", 40, true}, {"in place", 2000, false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, path := foldedStore(t, 0, tc.records, withFoldChunk(7))
			require.NoError(t, s.db.View(func(btx *bolt.Tx) error {
				s.filter = buildFilter(btx.Bucket(bRecords))
				return nil
			}))
			at := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
			for k := 2; k >= 0; k-- { // three pages, each every third value
				page := make([]ioc.Indicator, 30)
				for i := range page {
					page[i] = ioc.Indicator{Type: ioc.TypeMD5, Value: hex32(i*3 + k + 20), Severity: ioc.SeverityCritical, LastSeen: at}
				}
				require.NoError(t, s.Update(t.Context(), func(tx sharing.Tx) error {
					_, err := tx.Merge("feed", page, at)
					return err
				}))
			}
			require.Equal(t, 90, StagedLen(s))
			heads, err := s.loadHeads()
			require.NoError(t, err)
			var order []string
			require.NoError(t, s.db.View(func(btx *bolt.Tx) error {
				bt, err := readBlobs(btx.Bucket(bStaged))
				require.NoError(t, err)
				for _, ref := range heads {
					v, _, err := bt.record(ref)
					require.NoError(t, err)
					order = append(order, string(v))
				}
				return nil
			}))
			require.Len(t, order, 90)
			assert.True(t, slices.IsSorted(order), "the heads in value order")
			was := s.rebuilt
			foldNow(t, s)
			assert.Equal(t, tc.rebuilt, s.rebuilt > was, "written anew")
			require.Zero(t, StagedLen(s))
			check := func(s *Store) {
				t.Helper()
				values := storetest.Values(t, s)
				require.Len(t, values, max(tc.records, 110))
				assert.True(t, slices.IsSorted(values))
				sev := severities(t, s, 15, 110)
				assert.Equal(t, slices.Repeat([]ioc.Severity{ioc.SeverityCritical}, 90), sev[5:])
				assert.Equal(t, slices.Repeat([]ioc.Severity{ioc.SeverityUnknown}, 5), sev[:5])
			}
			checkReopened(t, s, path, check)
		})
	}
}
