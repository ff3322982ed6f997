package boltstore

import (
	"context"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
)

// TestOpenDropsAStoppedRebuild opens a file where a rebuild was stopped
// between its transactions (a crash): the half-written bucket is dropped,
// and the records and the staging log read as before it began.
func TestOpenDropsAStoppedRebuild(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, withFoldAt(1<<20))
	require.NoError(t, err)
	values := []string{}
	for i := range 20 {
		mergeMD5(t, s, i, 1)
		values = append(values, hex32(i))
		if i == 9 {
			require.NoError(t, s.Update(t.Context(), func(st sharing.Tx) error { return st.(*tx).fold() }))
		}
	}
	// what a rebuild leaves after its first transactions: a part of the new bucket
	require.NoError(t, s.db.Update(func(btx *bolt.Tx) error {
		p, err := btx.CreateBucket(bRebuild)
		if err != nil {
			return err
		}
		nb, err := p.CreateBucket(bRecords)
		if err != nil {
			return err
		}
		return nb.Put([]byte(hex32(3)), []byte("half written"))
	}))
	require.NoError(t, s.db.Close()) // as a crash: no fold at Close

	s, err = Open(path)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.db.View(func(btx *bolt.Tx) error {
		require.Nil(t, btx.Bucket(bRebuild), "the stopped rebuild is dropped")
		return nil
	}))
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		for _, v := range values {
			r, ok, err := tx.Record(v)
			require.NoError(t, err)
			require.True(t, ok, v)
			require.Equal(t, "feed", r.Entries[0].Source)
		}
		return nil
	}))
}

// mergeMD5 merges, in one Update, n MD5 values from hex32(from) on.
func mergeMD5(t *testing.T, s *Store, from, n int) {
	t.Helper()
	mergeSeen(t, s, from, n, ioc.SeverityUnknown, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
}

// mergeSeen merges, in one Update, n MD5 values from hex32(from) on, of
// severity sev, seen at at.
func mergeSeen(t *testing.T, s *Store, from, n int, sev ioc.Severity, at time.Time) {
	t.Helper()
	require.NoError(t, s.Update(t.Context(), func(tx sharing.Tx) error {
		_, err := tx.Merge("feed", md5Page(from, n, sev, at), at)
		return err
	}))
}

// md5Page returns n MD5 indicators from hex32(from) on, of severity sev,
// seen at at.
func md5Page(from, n int, sev ioc.Severity, at time.Time) []ioc.Indicator {
	page := make([]ioc.Indicator, n)
	for i := range page {
		page[i] = ioc.Indicator{Type: ioc.TypeMD5, Value: hex32(from + i), Severity: sev, LastSeen: at}
	}
	return page
}

// foldNow folds the staging log as Close does (foldOrRebuild).
func foldNow(t *testing.T, s *Store) {
	t.Helper()
	require.NoError(t, s.Update(t.Context(), func(st sharing.Tx) error { return st.(*tx).foldOrRebuild() }))
}

// severities returns the severity of the one entry of hex32(i) for each i
// in [from, to), each value required to be stored.
func severities(t *testing.T, s *Store, from, to int) []ioc.Severity {
	t.Helper()
	var out []ioc.Severity
	for i := from; i < to; i++ {
		r, ok, err := record(s, hex32(i))
		require.NoError(t, err)
		require.True(t, ok, i)
		out = append(out, r.Entries[0].Severity)
	}
	return out
}

func hex32(i int) string {
	const digits = "0123456789abcdef"
	b := []byte("00000000000000000000000000000000")
	for j := len(b) - 1; i > 0; j-- {
		b[j] = digits[i%16]
		i /= 16
	}
	return string(b)
}

// TestRebuildFailureKeepsTheLog makes a rebuild fail (a staged blob it needs
// is gone): the Update that started it says its own writes are stored and
// the rebuild failed, the records and the log are as they were, and the
// next Open drops the half-written bucket.
func TestRebuildFailureKeepsTheLog(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, withFoldAt(1<<20))
	require.NoError(t, err)
	mergeMD5(t, s, 1, 5)
	mergeMD5(t, s, 100, 5)
	// the first page's blob is lost
	require.NoError(t, s.db.Update(func(btx *bolt.Tx) error {
		k, _ := btx.Bucket(bStaged).Cursor().First()
		return btx.Bucket(bStaged).Delete(k)
	}))
	s.foldAt, s.rebuild, s.rebuildN = 1, true, 2 // the next Merge starts a rebuild
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	err = s.Update(t.Context(), func(tx sharing.Tx) error {
		_, err := tx.Merge("feed", []ioc.Indicator{{Type: ioc.TypeMD5, Value: hex32(200), LastSeen: now}}, now)
		return err
	})
	require.ErrorIs(t, err, errCorrupt)
	require.ErrorContains(t, err, "the update is stored")
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		for _, v := range []string{hex32(100), hex32(104), hex32(200)} {
			_, ok, err := tx.Record(v)
			require.NoError(t, err)
			require.True(t, ok, "%s is still staged", v)
		}
		return nil
	}))
	require.Equal(t, 6, StagedLen(s), "the log stays (less the lost blob)")
	require.NoError(t, s.db.Close())

	s, err = Open(path)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.db.View(func(btx *bolt.Tx) error {
		require.Nil(t, btx.Bucket(bRebuild), "the half-written bucket is dropped")
		return nil
	}))
}

// TestFullLeavesWhereKeysComeInRuns: a first share's ledger (written in key
// order into an empty bucket), the records of a first fold and the ranked
// index (a page's new keys together at the front of their severities) fill
// their leaves whole, where bbolt's default leaves them half full.
func TestFullLeavesWhereKeysComeInRuns(t *testing.T) {
	t.Parallel()
	s, err := Open(filepath.Join(t.TempDir(), "state.db"), withFoldAt(1<<20))
	require.NoError(t, err)
	defer s.Close()
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var entries []sharing.LedgerEntry
	// runs of 500 keys a severity, larger than a leaf holds (a page of the
	// Mimecast feed makes runs of about 1,200)
	for p := range 10 {
		page := make([]ioc.Indicator, 2000)
		for i := range page {
			n := p*len(page) + i
			page[i] = ioc.Indicator{Type: ioc.TypeMD5, Value: hex32(n*7919 + 1), Severity: ioc.Severity(1 + n%4),
				LastSeen: start.Add(time.Duration(p) * time.Hour)}
			entries = append(entries, sharing.LedgerEntry{Value: page[i].Value, Type: ioc.TypeMD5, State: sharing.StateApplied, At: start})
		}
		require.NoError(t, s.Update(t.Context(), func(tx sharing.Tx) error {
			_, err := tx.Merge("feed", page, start)
			return err
		}))
	}
	require.NoError(t, s.Update(t.Context(), func(tx sharing.Tx) error { return tx.PutLedger("share", entries) }))
	foldNow(t, s)
	fill := func(b *bolt.Bucket) float64 {
		st := b.Stats()
		return float64(st.LeafInuse) / float64(st.LeafAlloc)
	}
	require.NoError(t, s.db.View(func(btx *bolt.Tx) error {
		assert.Greater(t, fill(btx.Bucket(bLedger).Bucket([]byte("share"))), 0.9, "ledger")
		assert.Greater(t, fill(btx.Bucket(bRecords)), 0.9, "records")
		assert.Greater(t, fill(btx.Bucket(bRanked)), 0.8, "ranked index")
		return nil
	}))
}

// TestUpdateReusesBuffers: an Update's arena chunks go to the next Update,
// once bbolt holds none of what was put.
func TestUpdateReusesBuffers(t *testing.T) {
	t.Parallel()
	s, err := Open(filepath.Join(t.TempDir(), "state.db"))
	require.NoError(t, err)
	defer s.Close()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var chunk *byte
	require.NoError(t, s.Update(t.Context(), func(st sharing.Tx) error {
		_, err := st.Merge("feed", []ioc.Indicator{{Type: ioc.TypeMD5, Value: hex32(1), LastSeen: now}}, now)
		chunk = unsafe.SliceData(st.(*tx).arena)
		return err
	}))
	require.NotNil(t, chunk)
	require.NoError(t, s.Update(t.Context(), func(st sharing.Tx) error {
		_, err := st.Merge("feed", []ioc.Indicator{{Type: ioc.TypeMD5, Value: hex32(2), LastSeen: now}}, now)
		assert.Same(t, chunk, unsafe.SliceData(st.(*tx).arena), "the last Update's chunk")
		return err
	}))
	r, ok, err := record(s, hex32(1))
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, hex32(1), r.Value, "what the first Update put is intact")
}

func record(s *Store, v string) (r sharing.Record, ok bool, err error) {
	err = s.View(context.Background(), func(tx sharing.Tx) error {
		r, ok, err = tx.Record(v)
		return err
	})
	return r, ok, err
}

// TestCloseRebuildsALargeLog: Close folds a log of at least 1/rebuildDiv as
// many values as the records by writing the records anew, in bounded
// transactions; a smaller log is folded in place. (Folded in place, a log
// that large dirties nearly every leaf in one transaction: at the end of a
// first sync of 1M events, 474 MB of page buffers and 213 MB of nodes held
// at once.)
func TestCloseRebuildsALargeLog(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	ingest := func(s *Store, from, n int) {
		t.Helper()
		page := make([]ioc.Indicator, n)
		for i := range page {
			page[i] = ioc.Indicator{Type: ioc.TypeMD5, Value: hex32((from+i)*7919 + 1), Severity: ioc.SeverityHigh, LastSeen: start}
		}
		require.NoError(t, s.Update(t.Context(), func(tx sharing.Tx) error {
			_, err := tx.Merge("feed", page, start)
			return err
		}))
	}
	for _, tc := range []struct {
		name    string
		records int
		staged  int
		rebuilt bool
	}{
		{"a log of a fifth of the records", 5000, 1000, true},
		{"a log of an eighth", 8000, 1000, true},
		{"a log of a twentieth", 20000, 1000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "state.db")
			// no fold before the one Close makes: Close folds a log of
			// foldAt/8 values or more (closeFoldAt)
			s, err := Open(path, withFoldAt(tc.staged*8))
			require.NoError(t, err)
			for from := 0; from < tc.records; from += tc.staged {
				ingest(s, from, tc.staged)
			}
			foldNow(t, s)
			require.Zero(t, StagedLen(s))
			ingest(s, tc.records, tc.staged)
			// the key filter counts the records (a process that made
			// filterAfter lookups has it; made after the Merge, which
			// would otherwise fold a log of foldAt/8 versions itself:
			// foldWhenFull)
			require.NoError(t, s.db.View(func(btx *bolt.Tx) error {
				s.filter = buildFilter(btx.Bucket(bRecords))
				return nil
			}))
			require.Equal(t, tc.staged, StagedLen(s))
			was := s.rebuilt
			require.NoError(t, s.Close())
			assert.Equal(t, tc.rebuilt, s.rebuilt > was, "written anew at Close")

			s, err = Open(path)
			require.NoError(t, err)
			defer s.Close()
			n := 0
			require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
				return tx.Records(func(*sharing.Record) error { n++; return nil })
			}))
			assert.Equal(t, tc.records+tc.staged, n, "every record folded")
			assert.Zero(t, StagedLen(s))
		})
	}
}
