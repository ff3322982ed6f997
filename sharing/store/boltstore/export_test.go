package boltstore

import bolt "go.etcd.io/bbolt"

// WithFoldAt is withFoldAt for the tests.
var WithFoldAt = withFoldAt

// StagedSeq returns how many record versions the staging log has ever taken.
func StagedSeq(s *Store) uint64 {
	var n uint64
	_ = s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bStaged).Sequence()
		return nil
	})
	return n
}

// StagedLen returns how many record versions the staging log holds now (a
// fold empties it).
func StagedLen(s *Store) int {
	var n int
	_ = s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bStaged).Stats().KeyN
		return nil
	})
	return n
}
