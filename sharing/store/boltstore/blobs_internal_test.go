package boltstore

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
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
