package storeutil

import (
	"errors"
	"fmt"

	"github.com/ctexchange/cte/sharing"
)

// Readable reports a transaction used after its function returned (done):
// ErrTxDone.
func Readable(done bool) error {
	if done {
		return ErrTxDone
	}
	return nil
}

// Writable reports what Readable does and, for a read-only transaction (write
// false), sharing.ErrReadOnly wrapped with the store's name and the operation:
// "memstore: put record: ...".
func Writable(store, op string, done, write bool) error {
	if err := Readable(done); err != nil {
		return err
	}
	if !write {
		return fmt.Errorf("%s: %s: %w", store, op, sharing.ErrReadOnly)
	}
	return nil
}

// EndScan is what a scan returns when its visit function returned err (not
// nil): nil for sharing.ErrStop, which ends the scan without error, and err
// otherwise.
func EndScan(err error) error {
	if errors.Is(err, sharing.ErrStop) {
		return nil
	}
	return err
}

// Each calls fn on every item in order and ends the scan as EndScan says at
// the first error.
func Each[T any](items []T, fn func(T) error) error {
	for _, v := range items {
		if err := fn(v); err != nil {
			return EndScan(err)
		}
	}
	return nil
}
