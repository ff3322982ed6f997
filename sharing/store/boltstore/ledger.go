package boltstore

// This file keeps the ledger and the applied sets of sharing configurations.

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/internal/storeutil"
)

// Ledger implements sharing.Tx.
func (t *tx) Ledger(config, value string) (sharing.LedgerEntry, bool, error) {
	if err := t.readable(); err != nil {
		return sharing.LedgerEntry{}, false, err
	}
	if t.ledgerCur.c == nil || t.ledgerName != config {
		b := t.bucket(bLedger).Bucket([]byte(config))
		if b == nil {
			return sharing.LedgerEntry{}, false, nil
		}
		// kept for the next lookup of the same ledger (a ranked read's)
		t.ledgerName, t.ledgerCur = config, keyCursor{c: b.Cursor()}
	}
	t.key = append(t.key[:0], value...)
	v := t.ledgerCur.get(t.key, !t.write)
	if v == nil {
		return sharing.LedgerEntry{}, false, nil
	}
	e := sharing.LedgerEntry{Value: value}
	if err := decodeLedger(v, &e); err != nil {
		return sharing.LedgerEntry{}, false, fmt.Errorf("boltstore: ledger %q of %q: %w", value, config, err)
	}
	return e, true, nil
}

// LedgerEntries implements sharing.Tx. fn must not write to the ledger of the
// same configuration.
func (t *tx) LedgerEntries(config string, fn func(e *sharing.LedgerEntry) error) error {
	if err := t.readable(); err != nil {
		return err
	}
	b := t.bucket(bLedger).Bucket([]byte(config))
	if b == nil {
		return nil
	}
	return t.scan(b.Cursor(), "ledger entries", func(k, v []byte) error {
		e := sharing.LedgerEntry{Value: string(k)}
		if err := decodeLedger(v, &e); err != nil {
			return fmt.Errorf("boltstore: ledger %q of %q: %w", k, config, err)
		}
		return fn(&e)
	})
}

// PutLedger implements sharing.Tx.
func (t *tx) PutLedger(config string, entries []sharing.LedgerEntry) error {
	if err := t.writable("put ledger"); err != nil {
		return err
	}
	if err := storeutil.CheckLedger(config, entries); err != nil {
		return fmt.Errorf("boltstore: put ledger: %w", err)
	}
	if len(entries) == 0 {
		return nil
	}
	b, err := t.bucket(bLedger).CreateBucketIfNotExists([]byte(config))
	if err != nil {
		return fmt.Errorf("boltstore: put ledger of %q: %w", config, err)
	}
	// In key order: bolt inserts into a node's sorted slice, and random
	// order shifts it for every put (quadratic in the entries of a node).
	// The last entry of a value wins, as if put one by one.
	order := make([]int32, len(entries))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortStableFunc(order, func(a, b int32) int { return strings.Compare(entries[a].Value, entries[b].Value) })
	fillFor(b, []byte(entries[order[0]].Value)) // a first share's keys all go after the last
	for k, i := range order {
		e := &entries[i]
		if k+1 < len(order) && entries[order[k+1]].Value == e.Value {
			continue
		}
		t.enc = appendLedger(t.enc[:0], e)
		if err := t.put(b, []byte(e.Value), t.enc); err != nil {
			return fmt.Errorf("boltstore: put ledger %q of %q: %w", e.Value, config, err)
		}
	}
	return nil
}

// AppliedSet implements sharing.Tx.
func (t *tx) AppliedSet(config string) (sharing.AppliedSet, bool, error) {
	var a sharing.AppliedSet
	ok, err := t.getJSON(bApplied, config, &a)
	if err != nil {
		return sharing.AppliedSet{}, false, err
	}
	a.At = storeutil.Time(a.At)
	return a, ok, nil
}

// PutAppliedSet implements sharing.Tx.
func (t *tx) PutAppliedSet(config string, a sharing.AppliedSet) error {
	if err := t.writable("put applied set"); err != nil {
		return err
	}
	if err := storeutil.CheckSource("sharing configuration", config); err != nil {
		return fmt.Errorf("boltstore: put applied set: %w", err)
	}
	a.At = storeutil.Time(a.At)
	return t.putJSON(bApplied, []byte(config), a)
}

func (t *tx) getJSON(bucket []byte, key string, v any) (bool, error) {
	if err := t.readable(); err != nil {
		return false, err
	}
	b := t.bucket(bucket).Get([]byte(key))
	if b == nil {
		return false, nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("boltstore: %s %q: %w", bucket, key, err)
	}
	return true, nil
}

func (t *tx) putJSON(bucket, key []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("boltstore: encode %s %q: %w", bucket, key, err)
	}
	if err := t.bucket(bucket).Put(key, b); err != nil {
		return fmt.Errorf("boltstore: put %s %q: %w", bucket, key, err)
	}
	return nil
}
