package boltstore_test

import (
	"encoding/binary"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/boltstore"
)

// TestOpenBuildsRankedIndex opens a file written before the ranked index
// (schema version 2, no bucket ranked): Open builds it from the records
// once, and marks the file version 3.
func TestOpenBuildsRankedIndex(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	// folded at Close: a file of version 2 has its staging log in the
	// format of its time (TestOpenConvertsStagingLog)
	s := openWith(t, path, boltstore.WithFoldAt(8))
	require.NoError(t, ingest(s, 0, 50))
	require.NoError(t, ingest(s, 1, 50))
	require.NoError(t, s.Update(t.Context(), func(tx sharing.Tx) error {
		return tx.SetInactive("feed", []string{page(0, 50)[3].Value}, page(0, 50)[3].LastSeen)
	}))
	want := rankedValues(t, s)
	require.Len(t, want, 99)
	require.NoError(t, s.Close())

	downgradeToV2(t, path, nil)

	s = open(t, path)
	assert.Equal(t, want, rankedValues(t, s), "rebuilt from the records")
	assert.Equal(t, len(want), rankedCount(t, s), "and counted")
	require.NoError(t, s.Close())
	assert.Equal(t, uint64(boltstore.SchemaVersion), schemaOf(t, path))
}

// An Open whose build of the ranked index fails (here a record it cannot
// read) leaves the index missing, not empty: the next Open, once the record
// reads, builds it.
func TestOpenBuildsRankedIndexAfterAFailure(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	s := openWith(t, path, boltstore.WithFoldAt(8))
	require.NoError(t, ingest(s, 0, 50))
	want := rankedValues(t, s)
	require.Len(t, want, 50)
	require.NoError(t, s.Close())
	bad := []byte(page(0, 50)[7].Value)
	var good []byte
	downgradeToV2(t, path, func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("records"))
		good = append([]byte(nil), b.Get(bad)...)
		return b.Put(bad, []byte{0xff, 0xff})
	})
	_, err := boltstore.Open(path)
	require.ErrorContains(t, err, "build the ranked index")

	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("records")).Put(bad, good) }))
	require.NoError(t, db.Close())
	s = open(t, path)
	assert.Equal(t, want, rankedValues(t, s), "built by the next Open")
	assert.Equal(t, len(want), rankedCount(t, s))
}

// downgradeToV2 makes the closed file at path look as schema version 2 wrote
// it (no ranked index, no counts), then runs edit, if any, in the same
// transaction.
func downgradeToV2(t *testing.T, path string, edit func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		for _, b := range []string{"ranked", "rankedN"} {
			if err := tx.DeleteBucket([]byte(b)); err != nil {
				return err
			}
		}
		if err := tx.Bucket([]byte("meta")).Put([]byte("schema"), binary.AppendUvarint(nil, 2)); err != nil {
			return err
		}
		if edit != nil {
			return edit(tx)
		}
		return nil
	}))
	require.NoError(t, db.Close())
}

func rankedCount(t *testing.T, s sharing.Store) int {
	t.Helper()
	var n int
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		var err error
		n, err = tx.(sharing.RankedTx).RankedCount("feed", func(ioc.Type) bool { return true })
		return err
	}))
	return n
}

func rankedValues(t *testing.T, s sharing.Store) []string {
	t.Helper()
	var out []string
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		return tx.(sharing.RankedTx).Ranked("feed", func(v string, _ ioc.Type) error {
			out = append(out, v)
			return nil
		})
	}))
	return out
}

// TestRankedCorruptKey checks that a ranked key too short for its parts, or
// with no type byte, is an error naming the source, not a panic.
func TestRankedCorruptKey(t *testing.T) {
	t.Parallel()
	for name, kv := range map[string][2][]byte{
		"short key":  {append(binary.AppendUvarint(nil, 4), "feed\x01"...), {1}},
		"no type":    {append(append(binary.AppendUvarint(nil, 4), "feed"...), make([]byte, 9+64)...), nil},
		"long value": {append(append(binary.AppendUvarint(nil, 4), "feed"...), make([]byte, 9+64)...), {1, 2}},
	} {
		path := filepath.Join(t.TempDir(), "state.db")
		s := open(t, path)
		require.NoError(t, ingest(s, 0, 3))
		require.NoError(t, s.Close())
		db, err := bolt.Open(path, 0o600, nil)
		require.NoError(t, err)
		require.NoError(t, db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("ranked")).Put(kv[0], kv[1])
		}))
		require.NoError(t, db.Close())
		s = open(t, path)
		err = s.View(t.Context(), func(tx sharing.Tx) error {
			return tx.(sharing.RankedTx).Ranked("feed", func(string, ioc.Type) error { return nil })
		})
		assert.ErrorContains(t, err, "corrupt", name)
		assert.ErrorContains(t, err, `"feed"`, name)
	}
}
