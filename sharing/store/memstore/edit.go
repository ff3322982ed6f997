package memstore

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/internal/storeutil"
)

// PutRecord implements sharing.Tx.
func (t *tx) PutRecord(r sharing.Record) error {
	if err := t.writable("put record"); err != nil {
		return err
	}
	entries, err := storeutil.CheckRecord(&r)
	if err != nil {
		return fmt.Errorf("memstore: put record: %w", err)
	}
	s := t.s
	packed := make([]entry, len(entries))
	for i := range entries {
		e := &entries[i]
		packed[i] = t.pack(&e.Indicator, s.sourceID(e.Source), e.StoredAt, "")
		packed[i].inactive = e.Inactive
		packed[i].sec[tInactive], packed[i].nsec[tInactive] = storeutil.Pack(utc(e.InactiveAt))
	}
	s.recs.reserve(1)
	rc, slot, h := s.recs.lookup(r.Value)
	if rc == nil {
		rc = s.recs.add(slot, h)
		rc.value, rc.typ, rc.gen = s.keep(r.Value), r.Type, t.gen
		t.created = append(t.created, rc)
		s.idx.add(rc)
	} else {
		t.touch(rc)
	}
	t.bumpRecord(rc)
	rc.first, rc.more = packed[0], packed[1:]
	t.bumpRecord(rc)
	return nil
}

// bumpRecord increases the version of every source with an entry in r.
func (t *tx) bumpRecord(r *rec) {
	for i := range r.len() {
		t.bump(t.s.srcNames[r.at(i).source])
	}
}

// DeleteRecord implements sharing.Tx. It costs a pass over the value order,
// which is fine for an operator's action.
func (t *tx) DeleteRecord(value string) error {
	if err := t.writable("delete record"); err != nil {
		return err
	}
	s := t.s
	r := s.recs.get(value)
	if r == nil {
		return nil
	}
	t.bumpRecord(r)
	old := rec{value: r.value, typ: r.typ, first: r.first, more: slices.Clone(r.more)}
	for i := range t.saved { // a record changed earlier in this tx is restored from its saved copy
		if t.saved[i].r == r {
			old.first, old.more = t.saved[i].first, t.saved[i].more
			t.saved = slices.Delete(t.saved, i, i+1)
			break
		}
	}
	created := slices.Contains(t.created, r)
	if created {
		t.created = slices.DeleteFunc(t.created, func(c *rec) bool { return c == r })
	}
	s.idx.drop(r)
	s.recs.remove(value)
	if created {
		return nil // nothing to restore
	}
	t.undo = append(t.undo, func() {
		s.recs.reserve(1)
		_, slot, h := s.recs.lookup(old.value)
		nr := s.recs.add(slot, h)
		*nr = old
		s.idx.add(nr)
	})
	return nil
}

// Marks implements sharing.Tx.
func (t *tx) Marks(fn func(m sharing.Mark) error) error {
	if err := t.readable(); err != nil {
		return err
	}
	return storeutil.Each(slices.Sorted(maps.Keys(t.s.marks)), func(v string) error { return fn(t.s.marks[v]) })
}

// PutMark implements sharing.Tx.
func (t *tx) PutMark(m sharing.Mark) error {
	if err := t.writable("put mark"); err != nil {
		return err
	}
	if err := storeutil.CheckMark(&m); err != nil {
		return fmt.Errorf("memstore: put mark: %w", err)
	}
	m.Value, m.Reason, m.At = strings.Clone(m.Value), strings.Clone(m.Reason), utc(m.At)
	saveKey(t, t.s.marks, m.Value)
	t.s.marks[m.Value] = m
	return nil
}

// DeleteMark implements sharing.Tx.
func (t *tx) DeleteMark(value string) error {
	if err := t.writable("delete mark"); err != nil {
		return err
	}
	if _, ok := t.s.marks[value]; !ok {
		return nil
	}
	saveKey(t, t.s.marks, value)
	delete(t.s.marks, value)
	return nil
}

// drop removes p into new slices, so that a scan over the old order (a
// Records running in the same tx) goes on; it skips the zeroed record.
func (s *sorted[T]) drop(p *T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	without := func(in []*T) []*T {
		i := slices.Index(in, p)
		if i < 0 {
			return in
		}
		return append(slices.Clip(in[:i]), in[i+1:]...)
	}
	s.all, s.pending = without(s.all), without(s.pending)
}
