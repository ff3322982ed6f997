package boltstore_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/boltstore"
	"github.com/ctexchange/cte/sharing/store/storetest"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path)
		return
	}
	os.Exit(m.Run())
}

func open(t *testing.T, path string) *boltstore.Store {
	t.Helper()
	return openWith(t, path)
}

func openWith(t *testing.T, path string, opts ...boltstore.Option) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(path, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestStore(t *testing.T) {
	t.Parallel()
	open := func(t *testing.T) sharing.Store {
		return open(t, filepath.Join(t.TempDir(), "state.db"))
	}
	storetest.Run(t, open)
	storetest.RunRanked(t, open)
}

// TestStoreFolding runs the suite with a staging log folded every few
// versions, so every operation meets both staged and folded records.
func TestStoreFolding(t *testing.T) {
	t.Parallel()
	for _, foldAt := range []int{1, 7} {
		t.Run(fmt.Sprint("fold at ", foldAt), func(t *testing.T) {
			t.Parallel()
			open := func(t *testing.T) sharing.Store {
				return openWith(t, filepath.Join(t.TempDir(), "state.db"), boltstore.WithFoldAt(foldAt))
			}
			storetest.Run(t, open)
			storetest.RunRanked(t, open)
		})
		t.Run(fmt.Sprint("rebuild at ", foldAt), func(t *testing.T) {
			t.Parallel()
			open := func(t *testing.T) sharing.Store {
				return openWith(t, filepath.Join(t.TempDir(), "state.db"), boltstore.WithFoldAt(foldAt), boltstore.WithRebuild(40))
			}
			storetest.Run(t, open)
			storetest.RunRanked(t, open)
		})
	}
}

// three is a staging index hash that gives every value one of three
// hashes, so that staged values share them at every step.
func three(s string) uint64 {
	if s == "" {
		return 0
	}
	return uint64(len(s)+int(s[len(s)-1])) % 3
}

// TestStoreSharedHashes runs the suite with a staging index whose hash
// gives every value one of three (three): staged values are looked up,
// staged again, taken back and folded while they share hashes.
func TestStoreSharedHashes(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string][]boltstore.Option{
		"staged":     {boltstore.WithStageHash(three)},
		"fold at 7":  {boltstore.WithStageHash(three), boltstore.WithFoldAt(7)},
		"rebuild":    {boltstore.WithStageHash(three), boltstore.WithFoldAt(7), boltstore.WithRebuild(3)},
		"fold after": {boltstore.WithStageHash(three), boltstore.WithFoldAt(7), boltstore.WithFoldChunk(2)},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			open := func(t *testing.T) sharing.Store {
				return openWith(t, filepath.Join(t.TempDir(), "state.db"), opts...)
			}
			storetest.Run(t, open)
			storetest.RunRanked(t, open)
		})
	}
}

// TestReopenSharedHashes stages values that share hashes (three) and opens
// the file again: the index built from the log finds each value's newest
// version.
func TestReopenSharedHashes(t *testing.T) {
	t.Parallel()
	const size = 20
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := boltstore.Open(path, boltstore.WithStageHash(three))
	require.NoError(t, err)
	for p := range 4 {
		require.NoError(t, ingest(s, p, size))
	}
	// page 1 staged again, with another severity and a later lastSeen
	require.NoError(t, s.Update(t.Context(), func(tx sharing.Tx) error {
		other := page(1, size)
		for i := range other {
			other[i].Severity, other[i].LastSeen = ioc.SeverityCritical, time.Unix(1e9, 0)
		}
		_, err := tx.Merge("feed", other, time.Unix(1, 0))
		return err
	}))
	require.NoError(t, ingest(s, 3, size)) // the checkpoint back to 3
	require.NoError(t, s.Close())
	s = openWith(t, path, boltstore.WithStageHash(three))
	require.Equal(t, 5*size, boltstore.StagedLen(s), "not folded at Close")
	check := func() {
		t.Helper()
		verify(t, s, 3, size)
		require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
			for i, x := range page(1, size) {
				r, ok, err := tx.Record(x.Value)
				require.NoError(t, err)
				require.True(t, ok)
				assert.Equal(t, ioc.SeverityCritical, r.Entries[0].Severity, "item %d: the newest version", i)
			}
			return nil
		}))
	}
	check()
	require.NoError(t, s.Update(t.Context(), func(tx sharing.Tx) error {
		return tx.Records(func(*sharing.Record) error { return nil }) // folds
	}))
	require.Zero(t, boltstore.StagedLen(s))
	check()
}

// TestViewAcrossFold checks that a View keeps its snapshot while Updates fold
// the staging log and stage more: it reads its own copy of the old log; so
// it does when staged values share hashes (three).
func TestViewAcrossFold(t *testing.T) {
	t.Parallel()
	t.Run("maphash", func(t *testing.T) { testViewAcrossFold(t) })
	t.Run("shared hashes", func(t *testing.T) { testViewAcrossFold(t, boltstore.WithStageHash(three)) })
}

func testViewAcrossFold(t *testing.T, opts ...boltstore.Option) {
	t.Parallel()
	const size = 8
	s := openWith(t, filepath.Join(t.TempDir(), "state.db"), append(opts, boltstore.WithFoldAt(2*size))...)
	require.NoError(t, ingest(s, 0, size)) // staged
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		require.NoError(t, ingest(s, 1, size)) // folds pages 0 and 1
		require.NoError(t, ingest(s, 2, size)) // staged after the fold
		n := 0
		require.NoError(t, tx.Records(func(r *sharing.Record) error {
			assert.Contains(t, r.Entries[0].Comments, "page 0 item ")
			n++
			return nil
		}))
		assert.Equal(t, size, n)
		for p, want := range []bool{true, false, false} {
			_, ok, err := tx.Record(page(p, size)[3].Value)
			require.NoError(t, err)
			assert.Equal(t, want, ok, "page %d", p)
		}
		return nil
	}))
	verify(t, s, 2, size)
}

// TestCorruptStaged checks that a damaged staging log is reported on Open.
func TestCorruptStaged(t *testing.T) {
	t.Parallel()
	for name, entry := range map[string][2][]byte{
		"short key":   {{1, 2}, []byte("\x02ab\x01")},
		"short value": {{0, 0, 0, 0, 0, 0, 0, 9}, {70, 'a'}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "state.db")
			open(t, path).Close()
			db, err := bolt.Open(path, 0o600, nil)
			require.NoError(t, err)
			require.NoError(t, db.Update(func(tx *bolt.Tx) error {
				return tx.Bucket([]byte("staged")).Put(entry[0], entry[1])
			}))
			require.NoError(t, db.Close())
			_, err = boltstore.Open(path)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "state file "+path+": staged entry")
			assert.Contains(t, err.Error(), "it is damaged")
		})
	}
}

func TestOpenLocked(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	open(t, path)
	for _, d := range []time.Duration{10 * time.Millisecond, 0, -time.Second} {
		_, err := boltstore.Open(path, boltstore.WithLockTimeout(d))
		require.Error(t, err, d)
		assert.Contains(t, err.Error(), "state file "+path+" is in use by another cte process")
	}
}

func TestOpenNotACteStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	text := filepath.Join(dir, "notes.txt")
	require.NoError(t, os.WriteFile(text, []byte(string(make([]byte, 8192))+"hello, not a database"), 0o600))
	_, err := boltstore.Open(text)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "state file "+text+" is not a cte store")

	foreign := filepath.Join(dir, "other.db")
	db, err := bolt.Open(foreign, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("somebody-elses"))
		return err
	}))
	require.NoError(t, db.Close())
	_, err = boltstore.Open(foreign)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is not a cte store")
	assert.Contains(t, err.Error(), "somebody-elses")

	dir2 := filepath.Join(dir, "a-directory")
	require.NoError(t, os.Mkdir(dir2, 0o700))
	_, err = boltstore.Open(dir2)
	assert.ErrorContains(t, err, dir2)

	_, err = boltstore.Open(os.DevNull)
	assert.ErrorContains(t, err, os.DevNull+" is not a regular file", "bbolt would write its pages to a device")
}

func TestOpenWrongFormatOrNewerSchema(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		format string
		schema uint64
		want   string
	}{
		"newer schema": {"cte-state", boltstore.SchemaVersion + 1, "newer than this cte reads"},
		"other format": {"something-else", 1, "is not a cte store"},
		"no schema":    {"cte-state", 0, "no readable schema version"},
	} {
		path := filepath.Join(t.TempDir(), "state.db")
		open(t, path).Close()
		db, err := bolt.Open(path, 0o600, nil)
		require.NoError(t, err)
		require.NoError(t, db.Update(func(tx *bolt.Tx) error {
			meta := tx.Bucket([]byte("meta"))
			if err := meta.Put([]byte("format"), []byte(c.format)); err != nil {
				return err
			}
			if c.schema == 0 {
				return meta.Delete([]byte("schema"))
			}
			return meta.Put([]byte("schema"), []byte{byte(c.schema)})
		}))
		require.NoError(t, db.Close())
		_, err = boltstore.Open(path)
		assert.ErrorContains(t, err, c.want, name)
	}
}

func TestOpenEmptyBoltFile(t *testing.T) {
	t.Parallel()
	// A crash between bbolt creating the file and the first setup commit
	// leaves a valid bolt file without buckets: it is a new store.
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	s := open(t, path)
	assert.Equal(t, path, s.Path())
	require.NoError(t, s.Update(t.Context(), func(tx sharing.Tx) error { return tx.SetCheckpoint("A", cte.Checkpoint("x")) }))
}

func TestClosed(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := boltstore.Open(path)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	err = s.View(t.Context(), func(sharing.Tx) error { return nil })
	assert.ErrorContains(t, err, "store is closed")
	err = s.Update(t.Context(), func(sharing.Tx) error { return nil })
	assert.ErrorContains(t, err, "store is closed")
}

func TestCorruptRecord(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	open(t, path).Close()
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("records")).Put([]byte(storetest.Hash(1)), []byte{1, 1, 5})
	}))
	require.NoError(t, db.Close())
	s := open(t, path)
	err = s.View(t.Context(), func(tx sharing.Tx) error {
		return tx.Records(func(*sharing.Record) error { return nil })
	})
	assert.ErrorContains(t, err, "corrupt encoding")
	err = s.Update(t.Context(), func(tx sharing.Tx) error {
		_, err := tx.Merge("A", []ioc.Indicator{{Type: ioc.TypeSHA256, Value: storetest.Hash(1)}}, time.Now())
		return err
	})
	assert.ErrorContains(t, err, storetest.Hash(1))
}

// page returns the indicators of page p of the step and crash tests.
func page(p, size int) []ioc.Indicator {
	out := make([]ioc.Indicator, size)
	for i := range out {
		out[i] = ioc.Indicator{Type: ioc.TypeSHA256, Value: storetest.Hash(p*size + i), Severity: ioc.SeverityHigh,
			Comments: fmt.Sprintf("page %d item %d", p, i)}
	}
	return out
}

// ingest stores page p and its checkpoint in one transaction, the way the
// engine does.
func ingest(s sharing.Store, p, size int) error {
	return s.Update(context.Background(), func(tx sharing.Tx) error {
		if _, err := tx.Merge("feed", page(p, size), time.Unix(int64(p), 0)); err != nil {
			return err
		}
		return tx.SetCheckpoint("feed", cte.Checkpoint(fmt.Sprintf("page-%06d", p)))
	})
}

// verify checks that pages 0..last are stored whole, that page last+1 is not
// there at all, and that the checkpoint names last (-1: none).
func verify(t *testing.T, s sharing.Store, last, size int) {
	t.Helper()
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		cp, err := tx.Checkpoint("feed")
		require.NoError(t, err)
		if last < 0 {
			assert.Nil(t, cp)
		} else {
			assert.Equal(t, fmt.Sprintf("page-%06d", last), string(cp))
		}
		for p := 0; p <= last+1; p++ {
			for _, x := range page(p, size) {
				r, ok, err := tx.Record(x.Value)
				require.NoError(t, err)
				if p > last {
					require.False(t, ok, "page %d was not acknowledged but %s is stored", p, x.Value)
					continue
				}
				require.True(t, ok, "acknowledged page %d lost %s", p, x.Value)
				assert.Equal(t, x.Comments, r.Entries[0].Comments)
			}
		}
		n := 0
		require.NoError(t, tx.Records(func(*sharing.Record) error { n++; return nil }))
		assert.Equal(t, (last+1)*size, n, "no partial page")
		return nil
	}))
}

func TestCloseAndReopenAtEveryStep(t *testing.T) {
	t.Parallel()
	// 0: the default, nothing is folded; 100: folded every few pages
	for _, foldAt := range []int{0, 100} {
		t.Run(fmt.Sprint("fold at ", foldAt), func(t *testing.T) {
			t.Parallel()
			closeAndReopen(t, foldAt)
		})
	}
}

func closeAndReopen(t *testing.T, foldAt int) {
	const pages, size = 12, 40
	var opts []boltstore.Option
	if foldAt > 0 {
		opts = append(opts, boltstore.WithFoldAt(foldAt))
	}
	path := filepath.Join(t.TempDir(), "state.db")
	for p := range pages {
		s, err := boltstore.Open(path, opts...)
		require.NoError(t, err)
		verify(t, s, p-1, size)
		// a page whose transaction fails before the end leaves nothing behind
		boom := errors.New("pull failed mid-page")
		err = s.Update(t.Context(), func(tx sharing.Tx) error {
			if _, err := tx.Merge("feed", page(p, size), time.Now()); err != nil {
				return err
			}
			if err := tx.SetCheckpoint("feed", cte.Checkpoint("bogus")); err != nil {
				return err
			}
			return boom
		})
		require.ErrorIs(t, err, boom)
		require.NoError(t, s.Close())

		s, err = boltstore.Open(path, opts...)
		require.NoError(t, err)
		verify(t, s, p-1, size)
		require.NoError(t, ingest(s, p, size))
		require.NoError(t, s.Close())
	}
	s := open(t, path)
	verify(t, s, pages-1, size)
}

// A page that repeats one value stages it once: every repeat merges into an
// unchanged record, which is not written again (a feed page repeating 500
// values over 300 MB grew the file by its own size).
func TestRepeatedValueIsStagedOnce(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	s := openWith(t, path, boltstore.WithFoldAt(1<<30))
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	ind := ioc.Indicator{Type: ioc.TypeSHA256, Value: storetest.Hash(1), Severity: ioc.SeverityHigh, Reputation: 5,
		Comments: strings.Repeat("c", 1000), LastSeen: now}
	page := make([]ioc.Indicator, 20000)
	for i := range page {
		page[i] = ind
	}
	var st sharing.MergeStats
	before := boltstore.StagedLen(s)
	require.NoError(t, s.Update(t.Context(), func(tx sharing.Tx) error {
		var err error
		st, err = tx.Merge("feed", page, now)
		return err
	}))
	assert.Equal(t, sharing.MergeStats{New: 1, Updated: len(page) - 1}, st, "every repeat still counts")
	assert.Equal(t, before+1, boltstore.StagedLen(s), "one version staged, not one per repeat")
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		r, ok, err := tx.Record(ind.Value)
		require.True(t, ok)
		assert.Equal(t, ind.Comments, r.Entries[0].Comments)
		return err
	}))
}

// Deleting a value that has no record folds nothing: the staging log keeps
// what it holds (a fold can take seconds on a large file).
func TestDeleteMissingRecordDoesNotFold(t *testing.T) {
	t.Parallel()
	s := openWith(t, filepath.Join(t.TempDir(), "state.db"), boltstore.WithFoldAt(1<<30))
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, s.Update(t.Context(), func(tx sharing.Tx) error {
		_, err := tx.Merge("feed", []ioc.Indicator{{Type: ioc.TypeSHA256, Value: storetest.Hash(1), LastSeen: now}}, now)
		return err
	}))
	require.Equal(t, 1, boltstore.StagedLen(s))
	require.NoError(t, s.Update(t.Context(), func(tx sharing.Tx) error { return tx.DeleteRecord(storetest.Hash(2)) }))
	assert.Equal(t, 1, boltstore.StagedLen(s), "the staging log was folded for a value with no record")
	require.NoError(t, s.Update(t.Context(), func(tx sharing.Tx) error { return tx.DeleteRecord(storetest.Hash(1)) }))
	assert.Equal(t, 2, boltstore.StagedLen(s), "deleting a staged value stages a tombstone, and folds nothing")
}

// Close folds a staging log of at least an eighth of foldAt and leaves a
// smaller one for the next Open to index: folding a few values into a large
// file rewrites a leaf per value. Either way the next Open reads every record.
func TestCloseFoldsOnlyALogWorthIt(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		values, staysStaged int
	}{{values: 7, staysStaged: 7}, {values: 8, staysStaged: 0}, {values: 30, staysStaged: 0}} {
		t.Run(fmt.Sprint(tc.values), func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "state.db")
			s, err := boltstore.Open(path, boltstore.WithFoldAt(64))
			require.NoError(t, err)
			require.NoError(t, s.Update(t.Context(), func(tx sharing.Tx) error {
				page := make([]ioc.Indicator, tc.values)
				for i := range page {
					page[i] = ioc.Indicator{Type: ioc.TypeSHA256, Value: storetest.Hash(i), LastSeen: now}
				}
				_, err := tx.Merge("feed", page, now)
				return err
			}))
			require.Equal(t, tc.values, boltstore.StagedLen(s))
			require.NoError(t, s.Close())
			s = openWith(t, path, boltstore.WithFoldAt(64))
			assert.Equal(t, tc.staysStaged, boltstore.StagedLen(s), "staged after Close")
			n := 0
			require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
				return tx.Records(func(*sharing.Record) error { n++; return nil })
			}))
			assert.Equal(t, tc.values, n, "records after reopening")
		})
	}
}

// An Update's staged versions go into values of the staging log (blobs) of
// a page each, not one value each; Views, a reopened file and a fold read
// every version.
func TestUpdateStagesBlobs(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	s := openWith(t, path, boltstore.WithFoldAt(1<<30))
	require.NoError(t, ingest(s, 0, 300))
	require.NoError(t, ingest(s, 1, 300))
	assert.Less(t, boltstore.StagedBlobs(s), 60, "a blob per page of records, not one per record")
	assert.Equal(t, 600, boltstore.StagedLen(s))
	want := allRecords(t, s)
	require.Len(t, want, 600)
	require.NoError(t, s.Close())
	s = openWith(t, path, boltstore.WithFoldAt(1<<30))
	assert.Equal(t, want, allRecords(t, s), "read back from the blobs after reopening")
	require.NoError(t, s.Update(t.Context(), func(tx sharing.Tx) error {
		return tx.Records(func(*sharing.Record) error { return sharing.ErrStop }) // folds first
	}))
	assert.Equal(t, 0, boltstore.StagedLen(s))
	assert.Equal(t, want, allRecords(t, s), "folded")
}

// A file of schema version 3 kept one staged version per key: Open rewrites
// its staging log as blobs, and every record reads back the same.
func TestOpenConvertsStagingLog(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	s := openWith(t, path, boltstore.WithFoldAt(1<<30))
	for p := range 3 {
		require.NoError(t, ingest(s, p, 100))
	}
	want := allRecords(t, s)
	require.Len(t, want, 300)
	require.NoError(t, s.Close())
	require.NoError(t, boltstore.DowngradeStaged(path))

	s = openWith(t, path, boltstore.WithFoldAt(1<<30))
	assert.Equal(t, 300, boltstore.StagedLen(s))
	assert.Equal(t, want, allRecords(t, s))
	// new versions go after the converted ones
	require.NoError(t, ingest(s, 3, 100))
	assert.Len(t, allRecords(t, s), 400)
	require.NoError(t, s.Close())
	assert.Equal(t, uint64(boltstore.SchemaVersion), schemaOf(t, path))
}

// schemaOf reads the schema version of the closed file at path.
func schemaOf(t *testing.T, path string) uint64 {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	defer db.Close()
	var v uint64
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		v, _ = binary.Uvarint(tx.Bucket([]byte("meta")).Get([]byte("schema")))
		return nil
	}))
	return v
}

func allRecords(t *testing.T, s sharing.Store) []sharing.Record {
	t.Helper()
	var out []sharing.Record
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		return tx.Records(func(r *sharing.Record) error {
			out = append(out, cloneRecord(r))
			return nil
		})
	}))
	return out
}

func cloneRecord(r *sharing.Record) sharing.Record {
	out := *r
	out.Entries = slices.Clone(r.Entries)
	for i := range out.Entries {
		out.Entries[i].Tags = slices.Clone(out.Entries[i].Tags)
	}
	return out
}

// A file of schema version 4 had no counts of its ranked keys: Open counts
// them once, by source and type, and RankedCount then answers as Ranked
// counts. A ranked key Open cannot read is reported as damage.
func TestOpenCountsRanked(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	downgrade := func(t *testing.T, path string, edit func(tx *bolt.Tx) error) {
		t.Helper()
		db, err := bolt.Open(path, 0o600, nil)
		require.NoError(t, err)
		require.NoError(t, db.Update(func(tx *bolt.Tx) error {
			if err := tx.DeleteBucket([]byte("rankedN")); err != nil {
				return err
			}
			if err := tx.Bucket([]byte("meta")).Put([]byte("schema"), binary.AppendUvarint(nil, 4)); err != nil {
				return err
			}
			return edit(tx)
		}))
		require.NoError(t, db.Close())
	}
	write := func(t *testing.T, path string) {
		t.Helper()
		s := openWith(t, path)
		require.NoError(t, s.Update(t.Context(), func(tx sharing.Tx) error {
			for i, src := range []string{"a", "b"} {
				var page []ioc.Indicator
				for j := range 10 * (i + 1) {
					page = append(page, ioc.Indicator{Type: ioc.TypeSHA256, Value: storetest.Hash(j), LastSeen: t0})
				}
				for j := range 3 {
					page = append(page, ioc.Indicator{Type: ioc.TypeDomain, Value: fmt.Sprintf("d%d.example.com", j), LastSeen: t0})
				}
				if _, err := tx.Merge(src, page, t0); err != nil {
					return err
				}
			}
			return tx.SetInactive("b", []string{storetest.Hash(0)}, t0)
		}))
		require.NoError(t, s.Close())
	}
	count := func(t *testing.T, s sharing.Store, src string, typ ioc.Type) int {
		t.Helper()
		var n int
		require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
			var err error
			n, err = tx.(sharing.RankedTx).RankedCount(src, func(x ioc.Type) bool { return x == typ })
			return err
		}))
		return n
	}

	t.Run("counted", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "state.db")
		write(t, path)
		downgrade(t, path, func(*bolt.Tx) error { return nil })
		s := openWith(t, path)
		assert.Equal(t, 10, count(t, s, "a", ioc.TypeSHA256))
		assert.Equal(t, 3, count(t, s, "a", ioc.TypeDomain))
		assert.Equal(t, 19, count(t, s, "b", ioc.TypeSHA256), "an inactive entry has no ranked key")
		assert.Equal(t, 0, count(t, s, "c", ioc.TypeSHA256))
		require.NoError(t, s.Close())
		assert.Equal(t, uint64(boltstore.SchemaVersion), schemaOf(t, path))
	})
	t.Run("damaged key", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "state.db")
		write(t, path)
		downgrade(t, path, func(tx *bolt.Tx) error { return tx.Bucket([]byte("ranked")).Put([]byte{0x7f, 'a'}, []byte{1}) })
		_, err := boltstore.Open(path)
		require.ErrorIs(t, err, boltstore.ErrDamaged)
		assert.ErrorContains(t, err, "count the ranked index")
		assert.ErrorContains(t, err, path)
	})
}

// Counts that drifted below the keys (here set by hand) never refuse a
// write: a delete that would take one below zero leaves it at zero.
func TestRankedCountNeverRefusesAWrite(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := boltstore.Open(path)
	require.NoError(t, err)
	page := []ioc.Indicator{}
	for i := range 3 {
		page = append(page, ioc.Indicator{Type: ioc.TypeSHA256, Value: storetest.Hash(i), LastSeen: t0})
	}
	require.NoError(t, s.Update(t.Context(), func(tx sharing.Tx) error { _, err := tx.Merge("a", page, t0); return err }))
	require.NoError(t, s.Close())
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("rankedN")).Put([]byte{1, 'a', byte(ioc.TypeSHA256)}, binary.BigEndian.AppendUint64(nil, 1))
	}))
	require.NoError(t, db.Close())

	s = openWith(t, path)
	require.NoError(t, s.Update(t.Context(), func(tx sharing.Tx) error {
		for _, x := range page[:2] {
			if err := tx.DeleteRecord(x.Value); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		n, err := tx.(sharing.RankedTx).RankedCount("a", func(ioc.Type) bool { return true })
		assert.Equal(t, 0, n)
		return err
	}))
}

// TestPageSizeOfAFile: a new file has pages of 16 KiB; a file made with
// another page size (4 KiB, as files made before) keeps it, and reads and
// writes as any other.
func TestPageSizeOfAFile(t *testing.T) {
	t.Parallel()
	pageSize := func(path string) int {
		t.Helper()
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		return int(binary.LittleEndian.Uint32(b[16+8:])) // after the page header, the magic and the version
	}
	dir := t.TempDir()
	fresh := filepath.Join(dir, "new.db")
	s := open(t, fresh)
	require.NoError(t, ingest(s, 0, 100))
	require.NoError(t, s.Close())
	assert.Equal(t, 16<<10, pageSize(fresh))

	old := filepath.Join(dir, "old.db")
	db, err := bolt.Open(old, 0o600, &bolt.Options{PageSize: 4096})
	require.NoError(t, err)
	require.NoError(t, db.Close())
	for round := range 2 {
		s := open(t, old)
		require.NoError(t, ingest(s, round, 100))
		verify(t, s, round, 100)
		require.NoError(t, s.Check(t.Context()))
		require.NoError(t, s.Close())
		assert.Equal(t, 4096, pageSize(old), "round %d", round)
	}
}
