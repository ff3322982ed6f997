package boltstore

import (
	"encoding/binary"

	bolt "go.etcd.io/bbolt"
)

// WithFoldAt is withFoldAt for the tests.
var WithFoldAt = withFoldAt

// WithRebuild is withRebuild for the tests.
var WithRebuild = withRebuild

// WithFoldChunk is withFoldChunk for the tests.
var WithFoldChunk = withFoldChunk

// WithFoldHook is withFoldHook for the tests.
var WithFoldHook = withFoldHook

// StagedLen returns how many record versions the staging log holds now (a
// fold empties it).
func StagedLen(s *Store) int {
	var n int
	_ = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bStaged).ForEach(func(k, v []byte) error {
			return blobEntries(k, v, func(uint64, []byte, []byte) error { n++; return nil })
		})
	})
	return n
}

// StagedBlobs returns how many blobs the staging log holds now.
func StagedBlobs(s *Store) int {
	var n int
	_ = s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bStaged).Stats().KeyN
		return nil
	})
	return n
}

// DowngradeStaged rewrites the closed file at path as schema version 3 wrote
// it: one staged version per key (the value, uvarint length then bytes, then
// the record encoding), under increasing sequence numbers.
func DowngradeStaged(path string) error {
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bStaged)
		type kv struct{ k, v []byte }
		var old []kv
		var seq uint64
		err := b.ForEach(func(k, v []byte) error {
			return blobEntries(k, v, func(_ uint64, value, rec []byte) error {
				seq++
				e := append(appendStr(nil, string(value)), rec...)
				old = append(old, kv{binary.BigEndian.AppendUint64(nil, seq), e})
				return nil
			})
		})
		if err != nil {
			return err
		}
		if err := tx.DeleteBucket(bStaged); err != nil {
			return err
		}
		if b, err = tx.CreateBucket(bStaged); err != nil {
			return err
		}
		for _, x := range old {
			if err := b.Put(x.k, x.v); err != nil {
				return err
			}
		}
		if err := b.SetSequence(seq); err != nil {
			return err
		}
		return tx.Bucket(bMeta).Put(kSchema, binary.AppendUvarint(nil, 3))
	})
}

// WithStageHash is withStageHash for the tests.
var WithStageHash = withStageHash
