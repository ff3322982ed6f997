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

	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket([]byte("ranked")); err != nil {
			return err
		}
		return tx.Bucket([]byte("meta")).Put([]byte("schema"), binary.AppendUvarint(nil, 2))
	}))
	require.NoError(t, db.Close())

	s = open(t, path)
	assert.Equal(t, want, rankedValues(t, s), "rebuilt from the records")
	require.NoError(t, s.Close())
	assert.Equal(t, uint64(boltstore.SchemaVersion), schemaOf(t, path))
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
