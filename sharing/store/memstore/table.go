package memstore

import (
	"hash/maphash"
	"math"
)

// table maps values to records. It is an open-addressing hash table with
// linear probing whose slots hold 32 bits of the value's hash and the
// record's id: one hash and one probe sequence per Merge of a value (a Go map
// needs a lookup and then an insert), 8 bytes a slot, and growth that moves
// slots by their stored hash without hashing a value again. Records live in
// fixed blocks indexed by id, so they never move.
type table struct {
	seed   maphash.Seed
	slots  []uint64 // hash<<32 | id+1; 0 is an empty slot
	n      int      // values in slots
	blocks [][]rec  // records by id
	ids    uint32   // ids handed out, rolled back ones included
}

const (
	blockBits = 8
	blockSize = 1 << blockBits
)

func newTable() table {
	return table{seed: maphash.MakeSeed(), slots: make([]uint64, 1024)}
}

func (t *table) len() int { return t.n }

func (t *table) rec(id uint32) *rec { return &t.blocks[id>>blockBits][id&(blockSize-1)] }

func (t *table) hash(v string) uint32 { return uint32(maphash.String(t.seed, v)) }

// lookup returns the record of v, or nil and the empty slot where v belongs.
func (t *table) lookup(v string) (r *rec, slot int, h uint32) {
	h = t.hash(v)
	mask := len(t.slots) - 1
	for i := int(h) & mask; ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == 0 {
			return nil, i, h
		}
		if uint32(s>>32) == h {
			if r := t.rec(uint32(s) - 1); r.value == v {
				return r, i, h
			}
		}
	}
}

// get returns the record of v, or nil.
func (t *table) get(v string) *rec {
	r, _, _ := t.lookup(v)
	return r
}

// reserve grows the table so that extra more values keep it at most 3/4
// full. Slots returned by lookup before a reserve are void after it.
func (t *table) reserve(extra int) {
	need := t.n + extra
	if need <= len(t.slots)/4*3 {
		return
	}
	size := len(t.slots)
	for need > size/4*3 {
		size *= 2
	}
	old := t.slots
	t.slots = make([]uint64, size)
	mask := size - 1
	for _, s := range old {
		if s == 0 {
			continue
		}
		i := int(uint32(s>>32)) & mask
		for t.slots[i] != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = s
	}
}

// add stores a new record for the value at slot (from lookup, after reserve)
// and returns it.
func (t *table) add(slot int, h uint32) *rec {
	if t.ids == math.MaxUint32 {
		panic("memstore: more than 4 billion values")
	}
	id := t.ids
	t.ids++
	if int(id>>blockBits) == len(t.blocks) {
		t.blocks = append(t.blocks, make([]rec, blockSize))
	}
	t.slots[slot] = uint64(h)<<32 | uint64(id+1)
	t.n++
	return t.rec(id)
}

// remove drops v (rollback only), shifting the slots after it back so that
// every probe sequence stays unbroken.
func (t *table) remove(v string) {
	r, i, _ := t.lookup(v)
	if r == nil {
		return
	}
	*r = rec{}
	t.n--
	mask := len(t.slots) - 1
	for {
		t.slots[i] = 0
		j := i
		for {
			j = (j + 1) & mask
			s := t.slots[j]
			if s == 0 {
				return
			}
			home := int(uint32(s>>32)) & mask
			// The slot at j may move to i unless its home lies cyclically in (i, j].
			if i <= j {
				if i < home && home <= j {
					continue
				}
			} else if i < home || home <= j {
				continue
			}
			t.slots[i] = s
			i = j
			break
		}
	}
}

// each calls fn for every stored record.
func (t *table) each(fn func(*rec)) {
	for _, s := range t.slots {
		if s != 0 {
			fn(t.rec(uint32(s) - 1))
		}
	}
}
