package boltstore

import (
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
)

// TestBlobTable reads logs whose sequences run without a gap and with gaps
// (found by search, not by index): every entry is found by its ref, and a
// blob not in the log, below, between or past them, is an error that says
// which.
func TestBlobTable(t *testing.T) {
	t.Parallel()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "blobs.db"), 0o600, nil)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	for _, tc := range []struct {
		name    string
		seqs    []uint64
		missing []uint64
		dense   bool
	}{
		{"dense", []uint64{5, 6, 7}, []uint64{4, 8, 1 << 30}, true},
		{"gaps", []uint64{5, 9, 12}, []uint64{4, 6, 10, 13}, false},
		{"empty", nil, []uint64{0, 1}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, db.Update(func(btx *bolt.Tx) error {
				b, err := btx.CreateBucket([]byte(tc.name))
				require.NoError(t, err)
				for _, seq := range tc.seqs {
					blob := appendStagedEntry(nil, "a"+string(rune('0'+seq%10)), []byte{byte(seq)})
					blob = appendStagedEntry(blob, "b"+string(rune('0'+seq%10)), nil)
					require.NoError(t, b.Put(seqKey(nil, seq), blob))
				}
				bt, err := readBlobs(b)
				require.NoError(t, err)
				assert.Equal(t, tc.dense, bt.dense)
				n := 0
				require.NoError(t, bt.entries(func(ref uint64, value, rec []byte) error {
					v, r, err := bt.record(ref)
					require.NoError(t, err)
					assert.Equal(t, value, v)
					assert.Equal(t, rec, r)
					assert.Equal(t, byte('a'+n%2), value[0])
					assert.Equal(t, byte('0'+refSeq(ref)%10), value[1])
					n++
					return nil
				}))
				assert.Equal(t, 2*len(tc.seqs), n)
				for _, seq := range tc.missing {
					_, _, err := bt.record(makeRef(seq, 0))
					assert.ErrorIs(t, err, errCorrupt, "seq %d", seq)
					assert.ErrorContains(t, err, "blob")
				}
				return nil
			}))
		})
	}
}

// TestBlobTableBadKey: a log key that is not a sequence number is corrupt.
func TestBlobTableBadKey(t *testing.T) {
	t.Parallel()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "blobs.db"), 0o600, nil)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	require.NoError(t, db.Update(func(btx *bolt.Tx) error {
		b, err := btx.CreateBucket(bStaged)
		require.NoError(t, err)
		require.NoError(t, b.Put([]byte("short"), []byte{1}))
		_, err = readBlobs(b)
		assert.ErrorIs(t, err, errCorrupt)
		return nil
	}))
}

// TestViewReadsManyStagedVersions: a View that reads more than
// viewBlobsAfter staged versions reads the log into a table and finds
// the rest there, the same records; a blob lost is an error either way,
// found by a seek or in the table.
func TestViewReadsManyStagedVersions(t *testing.T) {
	t.Parallel()
	n := viewBlobsAfter + 1000
	s, err := Open(filepath.Join(t.TempDir(), "state.db"), withFoldAt(1<<20))
	require.NoError(t, err)
	defer s.Close()
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	mergeSeen(t, s, 0, n, ioc.SeverityHigh, at)
	require.Equal(t, n, StagedLen(s))
	readAll := func(tx sharing.Tx, order []int) error {
		for _, i := range order {
			r, ok, err := tx.Record(hex32(i))
			if err != nil {
				return err
			}
			require.True(t, ok, i)
			require.Equal(t, hex32(i), r.Value)
			require.Equal(t, ioc.SeverityHigh, r.Entries[0].Severity)
		}
		return nil
	}
	order := rand.New(rand.NewPCG(3, 4)).Perm(n)
	require.NoError(t, s.View(t.Context(), func(st sharing.Tx) error {
		require.NoError(t, readAll(st, order))
		require.NotNil(t, st.(*tx).blobs, "read into a table")
		return nil
	}))

	// a log counted as 4M versions: the View reads its values by seeks
	x := s.idx.Load()
	was := x.n
	x.n = 4 << 20
	require.NoError(t, s.View(t.Context(), func(st sharing.Tx) error {
		require.NoError(t, readAll(st, order))
		require.Nil(t, st.(*tx).blobs, "not read into a table: 10,485 reads would be")
		return nil
	}))
	x.n = was

	// the blob of hex32(0) is lost: its first version in the log
	require.NoError(t, s.db.Update(func(btx *bolt.Tx) error {
		k, _ := btx.Bucket(bStaged).Cursor().First()
		return btx.Bucket(bStaged).Delete(k)
	}))
	lost := []int{0}
	others := make([]int, 0, n)
	for i := range n {
		if _, ok, err := record(s, hex32(i)); err == nil && ok && i >= 100 {
			others = append(others, i) // not in the lost blob
		}
	}
	for name, order := range map[string][]int{"by a seek": lost, "in the table": append(others[:viewBlobsAfter:viewBlobsAfter], lost...)} {
		err := s.View(t.Context(), func(tx sharing.Tx) error { return readAll(tx, order) })
		require.ErrorIs(t, err, errCorrupt, name)
		assert.ErrorContains(t, err, "is missing", name)
	}
}

// TestNewestInTheLog stages values that share their first 8 bytes, are
// prefixes of one another, hold zero bytes or 0xff, in several versions
// across blobs and within one: newest returns the greatest ref of each
// value, in the values' bytes order.
func TestNewestInTheLog(t *testing.T) {
	t.Parallel()
	vals := []string{"\x00", "\x00\x00", "a", "abcdefgh", "abcdefgh\x00", "abcdefgi", "abcdefghz", "abcdefg",
		"\xff\xff\xff\xff\xff\xff\xff\xff\x01", "ab"}
	db, err := bolt.Open(filepath.Join(t.TempDir(), "blobs.db"), 0o600, nil)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	r := rand.New(rand.NewPCG(5, 6))
	require.NoError(t, db.Update(func(btx *bolt.Tx) error {
		b, err := btx.CreateBucket(bStaged)
		require.NoError(t, err)
		want := map[string]uint64{}
		for seq := uint64(1); seq <= 6; seq++ {
			var blob []byte
			for range 8 { // a value may come twice in a blob
				v := vals[r.IntN(len(vals))]
				want[v] = makeRef(seq, len(blob))
				blob = appendStagedEntry(blob, v, []byte{byte(seq)})
			}
			require.NoError(t, b.Put(seqKey(nil, seq), blob))
		}
		bt, err := readBlobs(b)
		require.NoError(t, err)
		refs, err := bt.newest(0)
		require.NoError(t, err)
		var got []string
		for _, ref := range refs {
			v := string(bt.value(ref))
			assert.Equal(t, want[v], ref, "the newest version of %q", v)
			got = append(got, v)
		}
		assert.Len(t, got, len(want))
		assert.True(t, slices.IsSorted(got), "in the values' order: %q", got)
		return nil
	}))
}
