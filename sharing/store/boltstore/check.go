package boltstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"

	"github.com/ctexchange/cte/sharing"
)

// maxProblems caps the problems Check reports.
const maxProblems = 20

// Check reads the whole file and reports what is wrong with it, nil when it
// is sound: bbolt's own check of every page and of the freelist, then every
// record, staged version and ledger entry decoded. It runs on a snapshot,
// and changes nothing; Updates wait for it (bbolt checks the freelist the
// writer changes: checked beside one, a sound file was reported damaged,
// and the process could crash on a map written while iterated), Views do
// not. Errors wrap ErrDamaged.
func (s *Store) Check(ctx context.Context) (err error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	defer s.recoverDamage(&err, nil)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	var problems []error
	err = s.db.View(func(btx *bolt.Tx) error {
		if err := walkAll(btx); err != nil {
			return err
		}
		for e := range btx.Check() {
			if len(problems) < maxProblems {
				problems = append(problems, e)
			}
		}
		if len(problems) > 0 {
			return nil // decoding a broken tree would only repeat it
		}
		t := newTx(ctx, btx, false, s)
		defer t.close()
		if err := t.Records(func(*sharing.Record) error { return ctx.Err() }); err != nil {
			problems = append(problems, err)
		}
		var configs []string
		_ = btx.Bucket(bLedger).ForEachBucket(func(k []byte) error {
			configs = append(configs, string(k))
			return nil
		})
		for _, c := range configs {
			if err := t.LedgerEntries(c, func(*sharing.LedgerEntry) error { return ctx.Err() }); err != nil {
				problems = append(problems, err)
			}
		}
		return nil
	})
	if err != nil {
		return s.closedErr(err)
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("boltstore: %w: %s: %w; %s", ErrDamaged, s.path, errors.Join(problems...), damagedHint)
}

// walkAll reads every page the buckets reach and every key, as bbolt's
// Check does, in this goroutine, where a page or a key past the end of the
// file faults recoverably (SetPanicOnFault, and the fault is reported as
// damage): bbolt's Check reads them in a goroutine of its own, where that
// fault killed the process.
func walkAll(btx *bolt.Tx) error {
	var sum byte
	var walk func(b *bolt.Bucket) error
	walk = func(b *bolt.Bucket) error {
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			for _, x := range k {
				sum ^= x
			}
			if v != nil {
				continue
			}
			if nb := b.Bucket(k); nb != nil {
				if err := walk(nb); err != nil {
					return err
				}
			}
		}
		return nil
	}
	err := btx.ForEach(func(_ []byte, b *bolt.Bucket) error { return walk(b) })
	walked.Store(uint32(sum)) // keeps the reads
	return err
}

// walked keeps walkAll's reads of the keys from being optimised away; atomic,
// as Checks of several stores may run at once.
var walked atomic.Uint32

// Backup writes a consistent copy of the whole state, as of one moment, to w
// while the store stays in use (writes wait for nothing; the copy is a
// snapshot). The copy is a state file Open reads.
func (s *Store) Backup(ctx context.Context, w io.Writer) (n int64, err error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("boltstore: backup: %w", err)
	}
	defer s.recoverDamage(&err, nil)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	err = s.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("boltstore: backup of %s: %w", s.path, s.closedErr(err))
	}
	return n, nil
}

// BackupFile writes a Backup to a new file at path and syncs it. It refuses
// to overwrite an existing file.
func (s *Store) BackupFile(ctx context.Context, path string) (int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, fmt.Errorf("boltstore: backup: %w: give a path that does not exist yet", err)
	}
	n, err := s.Backup(ctx, f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return 0, fmt.Errorf("boltstore: backup to %s: %w", path, err)
	}
	return n, nil
}
