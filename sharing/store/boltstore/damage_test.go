package boltstore_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/boltstore"
	"github.com/ctexchange/cte/sharing/store/storetest"
)

// fill writes pages of indicators and a ledger into a new file and closes it.
func fill(t *testing.T, path string, pages int) {
	t.Helper()
	s, err := boltstore.Open(path)
	require.NoError(t, err)
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for p := range pages {
		in := storetest.Page(p, 2000)
		require.NoError(t, s.Update(t.Context(), func(tx sharing.Tx) error {
			if _, err := tx.Merge("src", in, now); err != nil {
				return err
			}
			entries := make([]sharing.LedgerEntry, len(in))
			for i := range in {
				entries[i] = sharing.LedgerEntry{Value: in[i].Value, Type: in[i].Type, State: sharing.StateApplied, At: now}
			}
			return tx.PutLedger("cfg", entries)
		}))
	}
	require.NoError(t, s.Close())
}

func countRecords(ctx context.Context, s sharing.Store) (int, error) {
	n := 0
	err := s.View(ctx, func(tx sharing.Tx) error {
		return tx.Records(func(*sharing.Record) error { n++; return nil })
	})
	return n, err
}

// TestEmptyFileRefused: an existing 0-byte state file is not started again
// (which would share everything again), and is left as it is.
func TestEmptyFileRefused(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	_, err := boltstore.Open(path)
	require.ErrorIs(t, err, boltstore.ErrDamaged)
	assert.Contains(t, err.Error(), "0 bytes")
	assert.Contains(t, err.Error(), "backup")
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Zero(t, fi.Size(), "the file is not initialised")
}

// TestTruncatedFileRefused: a file cut short is refused at Open with a clear
// error, instead of faulting on its memory map later.
func TestTruncatedFileRefused(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	fill(t, path, 5)
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	var used int64 // the file may be longer than its pages: bbolt grows it ahead
	require.NoError(t, db.View(func(tx *bolt.Tx) error { used = tx.Size(); return nil }))
	require.NoError(t, db.Close())
	require.NoError(t, os.Truncate(path, used/2))
	_, err = boltstore.Open(path)
	require.ErrorIs(t, err, boltstore.ErrDamaged)
	assert.Contains(t, err.Error(), "truncated")
	assert.Contains(t, err.Error(), "cte state check")
	_, err = boltstore.Open(path)
	require.ErrorIs(t, err, boltstore.ErrDamaged, "refused again: nothing was left locked")
}

// TestOverwrittenFileNeverCrashes: pages overwritten in the middle of the
// file give ErrDamaged from Open, a read or Check; never a panic or a fault.
func TestOverwrittenFileNeverCrashes(t *testing.T) {
	t.Parallel()
	for _, fillByte := range []byte{0x00, 0xff, 0x5a} {
		path := filepath.Join(t.TempDir(), "state.db")
		fill(t, path, 5)
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		// Keep the two meta pages and the two after them; overwrite a third
		// of the rest. The page size is the meta page's, after its 16-byte
		// page header, the magic and the version.
		from := 4 * int(binary.LittleEndian.Uint32(b[16+8:]))
		require.Equal(t, 16<<10, from/4, "a new file's page size")
		to := from + (len(b)-from)/3
		copy(b[from:to], bytes.Repeat([]byte{fillByte}, to-from))
		require.NoError(t, os.WriteFile(path, b, 0o600))

		s, err := boltstore.Open(path)
		if err != nil {
			require.ErrorIs(t, err, boltstore.ErrDamaged, "fill %#x", fillByte)
			continue
		}
		_, rerr := countRecords(t.Context(), s)
		cerr := s.Check(t.Context())
		require.ErrorIs(t, cerr, boltstore.ErrDamaged, "fill %#x: Check finds the damage", fillByte)
		if rerr != nil {
			assert.NotContains(t, rerr.Error(), "panic", "fill %#x", fillByte)
		}
		require.NoError(t, s.Close())
	}
}

// TestCheckSoundFile: Check of a sound file finds nothing.
func TestCheckSoundFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	fill(t, path, 2)
	s := open(t, path)
	assert.NoError(t, s.Check(t.Context()))
}

// TestBackup: a backup taken while the store is in use opens as a state
// file with the same records; an existing file is never overwritten.
func TestBackup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	fill(t, path, 2)
	s := open(t, path)
	dst := filepath.Join(dir, "backup.db")
	n, err := s.BackupFile(t.Context(), dst)
	require.NoError(t, err)
	assert.Positive(t, n)
	_, err = s.BackupFile(t.Context(), dst)
	require.Error(t, err, "an existing file is not overwritten")
	assert.Contains(t, err.Error(), "does not exist yet")

	b := open(t, dst)
	want, err := countRecords(t.Context(), s)
	require.NoError(t, err)
	got, err := countRecords(t.Context(), b)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	assert.Equal(t, 4000, got)
	assert.NoError(t, b.Check(t.Context()))

	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = s.Backup(cancelled, &bytes.Buffer{})
	require.ErrorIs(t, err, context.Canceled)
}
