package memstore

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/internal/storeutil"
)

var _ sharing.Store = (*Store)(nil)

// ErrClosed is returned by View and Update after Close.
var ErrClosed = errors.New("memstore: store is closed")

// Store is an in-memory sharing.Store. The zero value is not usable; call New.
type Store struct {
	mu     sync.RWMutex // one writer or many readers
	closed bool
	gen    uint32 // generation of the current or last write transaction

	recs table
	idx  sorted[rec]

	srcNames []string // interned source names; index 0 unused
	srcIDs   map[string]uint32
	tagSets  [][]string // interned tag sets; index 0 is the empty set
	tagIDs   map[string]uint32

	strArena []byte // values are copied into blocks; see keep

	checkpoints map[string]cte.Checkpoint
	ledgers     map[string]*ledger
	applied     map[string]sharing.AppliedSet
	audit       []sharing.AuditEntry
	seq         uint64
	runs        map[string]sharing.RunState
	versions    map[string]uint64 // by source, see sharing.Tx.Version
	marks       map[string]sharing.Mark
}

// New returns an empty store.
func New() *Store {
	return &Store{
		recs:        newTable(),
		idx:         sorted[rec]{key: func(r *rec) string { return r.value }},
		srcNames:    []string{""},
		srcIDs:      make(map[string]uint32),
		versions:    make(map[string]uint64),
		tagSets:     [][]string{nil},
		tagIDs:      make(map[string]uint32),
		checkpoints: make(map[string]cte.Checkpoint),
		ledgers:     make(map[string]*ledger),
		applied:     make(map[string]sharing.AppliedSet),
		runs:        make(map[string]sharing.RunState),
		marks:       make(map[string]sharing.Mark),
	}
}

// rec is one stored value. Its entries, first and then more, are sorted by
// source name; most values have one source, so the first entry is inline.
type rec struct {
	value string
	first entry
	more  []entry
	gen   uint32 // write transaction that last saved an undo copy
	typ   ioc.Type
}

func (r *rec) len() int { return 1 + len(r.more) }

func (r *rec) at(i int) *entry {
	if i == 0 {
		return &r.first
	}
	return &r.more[i-1]
}

// insert puts e at position i.
func (r *rec) insert(i int, e entry) {
	all := make([]entry, 0, r.len()+1)
	all = append(append(all, r.first), r.more...)
	all = slices.Insert(all, i, e)
	r.first, r.more = all[0], all[1:]
}

// entry is a compact sharing.Entry: interned source and tags, packed times.
type entry struct {
	comments string
	sec      [nTimes]int64
	nsec     [nTimes]uint32
	tags     uint32 // index into Store.tagSets
	source   uint32 // index into Store.srcNames
	rep      int32
	typ      ioc.Type
	sev      ioc.Severity
	inactive bool
}

// Indexes of entry.sec and entry.nsec.
const (
	tFirst = iota
	tLast
	tExpires
	tInactive
	tStored
	nTimes
)

type ledger struct {
	m   map[string]*sharing.LedgerEntry
	idx sorted[sharing.LedgerEntry]
}

func newLedger() *ledger {
	return &ledger{
		m:   make(map[string]*sharing.LedgerEntry),
		idx: sorted[sharing.LedgerEntry]{key: func(e *sharing.LedgerEntry) string { return e.Value }},
	}
}

// View runs fn in a read-only transaction; many may run at once.
func (s *Store) View(ctx context.Context, fn func(sharing.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: view: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	t := &tx{s: s, ctx: ctx}
	defer func() { t.done = true }()
	return fn(t)
}

// Update runs fn in the read-write transaction; one runs at a time and no View
// runs beside it. When fn returns an error or panics, every write it made is
// undone before the lock is released, so no reader ever sees them.
func (s *Store) Update(ctx context.Context, fn func(sharing.Tx) error) (err error) {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: update: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.gen++
	if s.gen == 0 { // wrapped: no record may claim the new generation by accident
		s.recs.each(func(r *rec) { r.gen = 0 })
		s.gen = 1
	}
	t := &tx{s: s, ctx: ctx, write: true, gen: s.gen}
	committed := false
	defer func() {
		t.done = true
		if !committed {
			t.rollback()
		}
	}()
	if err := fn(t); err != nil {
		return err
	}
	committed = true
	return nil
}

// Close releases the store's memory; later transactions return ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.recs, s.idx.all, s.idx.pending, s.strArena = table{}, nil, nil, nil
	s.srcIDs, s.srcNames, s.tagIDs, s.tagSets = nil, nil, nil, nil
	s.checkpoints, s.ledgers, s.applied, s.audit, s.runs, s.marks = nil, nil, nil, nil, nil, nil
	return nil
}

// Len returns the number of stored values.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.recs.len()
}

// keep copies a string that lives as long as the store (a value) into the
// current block, so it neither pins the caller's buffer nor costs an
// allocation of its own. The blocks are never written again after a copy.
func (s *Store) keep(v string) string {
	if len(v) == 0 || len(v) > 512 {
		return strings.Clone(v)
	}
	if cap(s.strArena)-len(s.strArena) < len(v) {
		s.strArena = make([]byte, 0, 32<<10)
	}
	n := len(s.strArena)
	s.strArena = append(s.strArena, v...)
	return unsafe.String(&s.strArena[n], len(v))
}

// sourceID interns a source name (writers only).
func (s *Store) sourceID(name string) uint32 {
	if id, ok := s.srcIDs[name]; ok {
		return id
	}
	name = strings.Clone(name)
	id := uint32(len(s.srcNames))
	s.srcNames = append(s.srcNames, name)
	s.srcIDs[name] = id
	return id
}

// tagSetID interns a tag set (writers only). key is scratch space.
func (s *Store) tagSetID(tags []string, key *[]byte) uint32 {
	if len(tags) == 0 {
		return 0
	}
	k := (*key)[:0]
	for _, tag := range tags {
		k = append(k, tag...)
		k = append(k, 0)
	}
	*key = k
	if id, ok := s.tagIDs[string(k)]; ok {
		return id
	}
	set := make([]string, len(tags))
	for i, tag := range tags {
		set[i] = strings.Clone(tag)
	}
	id := uint32(len(s.tagSets))
	s.tagSets = append(s.tagSets, set)
	s.tagIDs[string(k)] = id
	return id
}

// sorted keeps pointers in key order. New items wait in pending until the next
// read of the order, which sorts them and merges them in; mu guards that lazy
// merge, which may run under the store's read lock.
type sorted[T any] struct {
	key     func(*T) string
	mu      sync.Mutex
	all     []*T
	pending []*T
}

func (s *sorted[T]) add(p ...*T) {
	s.mu.Lock()
	s.pending = append(s.pending, p...)
	s.mu.Unlock()
}

// view returns all items in key order. The slice must not be modified.
func (s *sorted[T]) view() []*T {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) == 0 {
		return s.all
	}
	s.sortPending()
	p := s.pending
	s.pending = nil
	if len(s.all) == 0 {
		s.all = p
		return s.all
	}
	a := s.all
	out := make([]*T, 0, len(a)+len(p))
	if len(p)*bits.Len(uint(len(a))) < len(a) {
		// few new items: find each one's place by binary search and copy
		// the runs between them
		for _, x := range p {
			k := s.key(x)
			i, _ := slices.BinarySearchFunc(a, k, func(y *T, k string) int { return strings.Compare(s.key(y), k) })
			out = append(append(out, a[:i]...), x)
			a = a[i:]
		}
		s.all = append(out, a...)
		return s.all
	}
	for len(a) > 0 && len(p) > 0 {
		if s.key(a[0]) <= s.key(p[0]) {
			out = append(out, a[0])
			a = a[1:]
		} else {
			out = append(out, p[0])
			p = p[1:]
		}
	}
	s.all = append(append(out, a...), p...)
	return s.all
}

// sortPending sorts the pending items by key. It sorts the keys' first eight
// bytes beside the pointers, so most comparisons touch no string.
func (s *sorted[T]) sortPending() {
	type item struct {
		prefix uint64
		p      *T
	}
	items := make([]item, len(s.pending))
	for i, p := range s.pending {
		items[i] = item{prefix8(s.key(p)), p}
	}
	slices.SortFunc(items, func(a, b item) int {
		if a.prefix != b.prefix {
			return cmp.Compare(a.prefix, b.prefix)
		}
		return strings.Compare(s.key(a.p), s.key(b.p))
	})
	for i := range items {
		s.pending[i] = items[i].p
	}
}

// prefix8 is the first eight bytes of k, big-endian, zero-padded: its order
// agrees with the order of the strings.
func prefix8(k string) uint64 {
	var b [8]byte
	copy(b[:], k)
	return binary.BigEndian.Uint64(b[:])
}

// remove drops items (used by rollback only).
func (s *sorted[T]) remove(gone map[*T]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.pending)
	s.pending = slices.DeleteFunc(s.pending, func(p *T) bool { return gone[p] })
	if n-len(s.pending) == len(gone) {
		return // none had been merged into all yet: the usual case
	}
	s.all = slices.DeleteFunc(s.all, func(p *T) bool { return gone[p] })
}

// sliceCopy returns a copy of b that is nil when b is nil.
func sliceCopy[T any](b []T) []T {
	if b == nil {
		return nil
	}
	return append(make([]T, 0, len(b)), b...)
}

func copyCounts(m map[string]int) map[string]int {
	if m == nil {
		return nil
	}
	return maps.Clone(m)
}

func copyDetails(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	return maps.Clone(m)
}

func utc(t time.Time) time.Time { return storeutil.Time(t) }
