package boltstore

// This file keeps what the transactions of a Store reuse: cursors kept for
// lookups in key order, and the buffers an Update leaves to the next one.

import (
	"bytes"

	"github.com/ctexchange/cte/sharing/store/internal/storeutil"
	bolt "go.etcd.io/bbolt"
)

// keyCursor is a cursor kept for lookups. In a View, a lookup of a key after
// the one it is on steps forward (Next) up to stepN keys before it seeks: a
// batch of lookups in key order (a ranked read's, a ledger's) then mostly
// stays on the leaf it is on, where a seek starts from the root. When the
// keys looked up are far apart, a step that ran out makes the next skipN
// lookups seek at once. An Update always seeks: Seek starts from the root,
// so the cursor stays right after writes.
type keyCursor struct {
	c    *bolt.Cursor
	k    []byte // the key the cursor is on (nil: seek)
	skip int    // lookups left to seek without stepping
}

// stepN is how many keys a lookup steps over before it seeks (about what a
// seek from the root costs in compares), and skipN how many lookups seek at
// once after a step ran out.
const stepN, skipN = 12, 8

func (c *keyCursor) get(key []byte, step bool) []byte {
	if c.skip > 0 {
		c.skip--
	} else if step && c.k != nil && bytes.Compare(key, c.k) > 0 {
		for range stepN {
			k, v := c.c.Next()
			c.k = k
			if k == nil {
				return nil // past the last key
			}
			switch bytes.Compare(k, key) {
			case 0:
				return v
			case 1:
				return nil // passed it: there is none
			}
		}
		c.skip = skipN
	}
	k, v := c.c.Seek(key)
	c.k = k
	if !step {
		c.k = nil
	}
	if !bytes.Equal(k, key) {
		return nil
	}
	return v
}

// txSpare is what an Update leaves to the next one: its arena's chunks,
// emptied, and its scratch buffers. Once the Update has committed or rolled
// back, bbolt holds none of what was put (its nodes are dropped), so a sync
// of many pages allocates its buffers once instead of at every page (a
// first sync of 200,000 events allocated 260 MB of its 1.17 GB there).
type txSpare struct {
	free     [][]byte
	rops     []rankOp
	rkeys    []byte
	rorder   []int32
	enc, key []byte
	order    storeutil.PageOrder
}

// maxSpare bounds the chunks an Update leaves (64 KiB each, or the size of
// a larger value): a fold's thousands are not kept.
const maxSpare = 128

// release returns the buffers of an ended Update for the next one.
func (t *tx) release() txSpare {
	free := t.free
	for _, c := range append(t.full, t.arena) {
		if c != nil && len(free) < maxSpare {
			free = append(free, c[:0])
		}
	}
	return txSpare{free: free, rops: t.rops[:0], rkeys: t.rkeys[:0], rorder: t.rorder[:0], enc: t.enc[:0], key: t.key[:0], order: t.order}
}
