package sharing

import (
	"errors"

	"github.com/ctexchange/cte"
)

// This file keeps a configuration's ledger in memory for a ranked re-pack,
// which looks up the ledger entry of every value it judges.

// ledgerOf returns the configuration's ledger entry of value: from s.ledger
// when it is loaded, else from the store.
func (s *scan) ledgerOf(tx Tx, value string) (LedgerEntry, bool, error) {
	if s.ledger == nil {
		return tx.Ledger(s.cfg.Name, value)
	}
	le, ok := s.ledger.get(value)
	return le, ok, nil
}

// loadLedger reads the configuration's whole ledger into s.ledger, in one
// pass in key order, unless it holds more than limit entries: then s.ledger
// stays nil and each value is looked up in the store, so that memory follows
// the target, not the ledger's history. A Replace configuration's ledger is
// about the size of its list (no entry for a value it never held) plus the
// values that left it, and its share reads every entry anyway (removals).
func (s *scan) loadLedger(tx Tx, limit int) error {
	c := &ledgerCache{at: map[string]int32{}}
	err := tx.LedgerEntries(s.cfg.Name, func(le *LedgerEntry) error {
		if len(c.at) >= limit {
			return ErrStop
		}
		c.add(le)
		return nil
	})
	if err == nil && len(c.at) < limit {
		s.ledger = c
	}
	return err
}

// ledgerCacheMin is the least ledgerCacheLimit gives; the tests set it
// lower to look values up in the store.
var ledgerCacheMin = 1 << 16

// ledgerCacheLimit is how many ledger entries a ranked read of target loads
// (loadLedger): four times what the list can hold, at least ledgerCacheMin.
func ledgerCacheLimit(t cte.Target) int {
	n := t.Limits.MaxItems
	if b := t.Limits.MaxBytes; b > 0 {
		if m := int(b / minListBytes(t.Types)); n == 0 || m < n {
			n = m
		}
	}
	if n == 0 {
		n = 1 << 20
	}
	if ledgerCacheMin < 1<<16 { // a test's
		return ledgerCacheMin
	}
	return max(4*n, ledgerCacheMin)
}

// ledgerEntries calls fn for each ledger entry of the configuration in value
// order: from s.ledger when it is loaded, else from the store.
func (s *scan) ledgerEntries(tx Tx, fn func(le *LedgerEntry) error) error {
	if s.ledger == nil {
		return tx.LedgerEntries(s.cfg.Name, fn)
	}
	for _, chunk := range s.ledger.chunks {
		for i := range chunk {
			if err := fn(&chunk[i]); err != nil {
				if errors.Is(err, ErrStop) {
					return nil
				}
				return err
			}
		}
	}
	return nil
}

// ledgerCache is a configuration's ledger in memory, in value order: in
// chunks that never move (one slice regrown to 100,000s of entries copied
// them again and again), with a map from value to position (a ranked read
// looks up every value it judges, and a binary search's 17 string
// comparisons each cost more than the map).
type ledgerCache struct {
	chunks [][]LedgerEntry
	at     map[string]int32
}

const ledgerChunk = 4096

func (c *ledgerCache) add(le *LedgerEntry) {
	if n := len(c.chunks); n == 0 || len(c.chunks[n-1]) == ledgerChunk {
		c.chunks = append(c.chunks, make([]LedgerEntry, 0, ledgerChunk))
	}
	last := &c.chunks[len(c.chunks)-1]
	c.at[le.Value] = int32((len(c.chunks)-1)*ledgerChunk + len(*last))
	*last = append(*last, *le)
}

func (c *ledgerCache) get(value string) (LedgerEntry, bool) {
	i, ok := c.at[value]
	if !ok {
		return LedgerEntry{}, false
	}
	return c.chunks[i/ledgerChunk][i%ledgerChunk], true
}
