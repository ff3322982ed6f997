package memstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/internal/storeutil"
)

// tx is a transaction over a Store. A write tx changes the store in place and
// keeps what it needs to undo those changes if its function fails.
type tx struct {
	s     *Store
	ctx   context.Context
	write bool
	done  bool
	gen   uint32

	// undo state of a write tx
	created []*rec                                    // records new in this tx
	saved   []recUndo                                 // entries of records before this tx touched them
	ledNew  map[*ledger]map[*sharing.LedgerEntry]bool // ledger entries new in this tx
	undo    []func()                                  // the rest, run in reverse
	keyBuf  []byte                                    // scratch for tag-set keys
}

type recUndo struct {
	r     *rec
	first entry
	more  []entry
}

// readable reports a tx used after its function returned.
func (t *tx) readable() error { return storeutil.Readable(t.done) }

// writable reports what readable does, and a write (op) in a read-only tx.
func (t *tx) writable(op string) error { return storeutil.Writable("memstore", op, t.done, t.write) }

// saveKey records how to restore m[k], or its absence, when the tx rolls
// back, and returns m[k].
func saveKey[K comparable, V any](t *tx, m map[K]V, k K) V {
	old, had := m[k]
	t.undo = append(t.undo, func() {
		if had {
			m[k] = old
		} else {
			delete(m, k)
		}
	})
	return old
}

// touch saves r's entries the first time this tx changes them.
func (t *tx) touch(r *rec) {
	if r.gen == t.gen {
		return
	}
	t.saved = append(t.saved, recUndo{r: r, first: r.first, more: slices.Clone(r.more)})
	r.gen = t.gen
}

func (t *tx) rollback() {
	s := t.s
	for i := len(t.saved) - 1; i >= 0; i-- {
		u := &t.saved[i]
		u.r.first, u.r.more = u.first, u.more
	}
	if len(t.created) > 0 {
		gone := make(map[*rec]bool, len(t.created))
		for _, r := range t.created {
			gone[r] = true
		}
		s.idx.remove(gone)
		for _, r := range t.created {
			s.recs.remove(r.value)
		}
	}
	for l, gone := range t.ledNew {
		for e := range gone {
			delete(l.m, e.Value)
		}
		l.idx.remove(gone)
	}
	for i := len(t.undo) - 1; i >= 0; i-- {
		t.undo[i]()
	}
}

// Merge implements sharing.Tx.
func (t *tx) Merge(source string, in []ioc.Indicator, now time.Time) (sharing.MergeStats, error) {
	var st sharing.MergeStats
	if err := t.writable("merge"); err != nil {
		return st, err
	}
	if err := storeutil.CheckMerge(source, in); err != nil {
		return st, fmt.Errorf("memstore: %w", err)
	}
	s := t.s
	src := s.sourceID(source)
	now = utc(now)
	firstNew := len(t.created)
	changed := false
	s.recs.reserve(len(in))
	for i := range in {
		x := &in[i]
		r, slot, h := s.recs.lookup(x.Value)
		if r == nil {
			r = s.recs.add(slot, h)
			r.value, r.typ, r.gen = s.keep(x.Value), x.Type, t.gen
			r.first = t.pack(x, src, now, "")
			t.created = append(t.created, r)
			st.New++
			changed = true
			continue
		}
		t.touch(r)
		pos, found := s.find(r, source)
		if found {
			e := r.at(pos)
			m := ioc.Merge(s.indicator(e), *x)
			old := *e
			*e = t.pack(&m, src, now, e.comments)
			changed = changed || seenChange(&old, e)
			st.Updated++
			continue
		}
		r.insert(pos, t.pack(x, src, now, ""))
		st.Added++
		changed = true
	}
	s.idx.add(t.created[firstNew:]...)
	if changed {
		t.bump(source)
	}
	return st, nil
}

// seenChange reports whether a merge changed what a selection sees of an
// entry: anything but StoredAt, or StoredAt too when the entry has no
// LastSeen.
func seenChange(old, cur *entry) bool {
	if old.sec[tLast] == storeutil.ZeroSec && old.nsec[tLast] == 0 && old.sec[tStored] != cur.sec[tStored] {
		return true
	}
	a, b := *old, *cur
	a.sec[tStored], a.nsec[tStored], b.sec[tStored], b.nsec[tStored] = 0, 0, 0, 0
	return a != b
}

// bump increases the version of source (see sharing.Tx.Version).
func (t *tx) bump(source string) {
	s := t.s
	s.versions[strings.Clone(source)] = saveKey(t, s.versions, source) + 1
}

// Version implements sharing.Tx.
func (t *tx) Version(source string) (uint64, error) {
	if err := t.readable(); err != nil {
		return 0, err
	}
	return t.s.versions[source], nil
}

// find returns the position of source's entry in r, or where it belongs.
func (s *Store) find(r *rec, source string) (int, bool) {
	n := r.len()
	for i := range n {
		switch c := strings.Compare(s.srcNames[r.at(i).source], source); {
		case c == 0:
			return i, true
		case c > 0:
			return i, false
		}
	}
	return n, false
}

// pack builds an active entry reported at now. old is the entry's previous
// comments, kept when they did not change.
func (t *tx) pack(x *ioc.Indicator, src uint32, now time.Time, old string) entry {
	comments := old
	if x.Comments != old {
		comments = strings.Clone(x.Comments)
	}
	e := entry{
		comments: comments,
		tags:     t.s.tagSetID(x.Tags, &t.keyBuf),
		source:   src,
		rep:      int32(x.Reputation),
		typ:      x.Type,
		sev:      x.Severity,
	}
	e.sec[tFirst], e.nsec[tFirst] = storeutil.Pack(x.FirstSeen)
	e.sec[tLast], e.nsec[tLast] = storeutil.Pack(x.LastSeen)
	e.sec[tExpires], e.nsec[tExpires] = storeutil.Pack(x.ExpiresAt)
	e.sec[tInactive], e.nsec[tInactive] = storeutil.ZeroSec, 0
	e.sec[tStored], e.nsec[tStored] = storeutil.Pack(now)
	return e
}

func (e *entry) time(i int) time.Time { return storeutil.Unpack(e.sec[i], e.nsec[i]) }

// indicator unpacks e; its Tags are the interned set and must not be modified.
func (s *Store) indicator(e *entry) ioc.Indicator {
	return ioc.Indicator{
		Type:       e.typ,
		Severity:   e.sev,
		Reputation: int(e.rep),
		Comments:   e.comments,
		Tags:       s.tagSets[e.tags],
		FirstSeen:  e.time(tFirst),
		LastSeen:   e.time(tLast),
		ExpiresAt:  e.time(tExpires),
		Source:     s.srcNames[e.source],
	}
}

// fill writes r into out, copying tags into *tagBuf.
func (s *Store) fill(r *rec, out *sharing.Record, tagBuf *[]string) {
	out.Type, out.Value = r.typ, r.value
	n := r.len()
	out.Entries = slices.Grow(out.Entries[:0], n)[:n]
	tb := (*tagBuf)[:0]
	for i := range n {
		e := r.at(i)
		x := s.indicator(e)
		x.Value = r.value
		if n := len(x.Tags); n > 0 {
			start := len(tb)
			tb = append(tb, x.Tags...)
			x.Tags = tb[start : start+n : start+n]
		}
		out.Entries[i] = sharing.Entry{Indicator: x, Inactive: e.inactive, InactiveAt: e.time(tInactive), StoredAt: e.time(tStored)}
	}
	*tagBuf = tb
}

// Record implements sharing.Tx.
func (t *tx) Record(value string) (sharing.Record, bool, error) {
	if err := t.readable(); err != nil {
		return sharing.Record{}, false, err
	}
	r := t.s.recs.get(value)
	if r == nil {
		return sharing.Record{}, false, nil
	}
	var out sharing.Record
	var tags []string
	t.s.fill(r, &out, &tags)
	return out, true, nil
}

// Records implements sharing.Tx. It checks the transaction's context every
// 1,024 records.
func (t *tx) Records(fn func(r *sharing.Record) error) error {
	if err := t.readable(); err != nil {
		return err
	}
	// the buffers are this call's own, so a scan inside fn cannot clobber them
	var out sharing.Record
	var tags []string
	for i, r := range t.s.idx.view() {
		if i&1023 == 1023 {
			if err := t.ctx.Err(); err != nil {
				return fmt.Errorf("memstore: records: %w", err)
			}
		}
		if r.value == "" {
			continue // deleted by fn during this scan
		}
		t.s.fill(r, &out, &tags)
		if err := fn(&out); err != nil {
			return storeutil.EndScan(err)
		}
	}
	return nil
}

// SetInactive implements sharing.Tx. An entry already inactive keeps the time
// it became so.
func (t *tx) SetInactive(source string, values []string, at time.Time) error {
	if err := t.writable("set inactive"); err != nil {
		return err
	}
	s := t.s
	if _, ok := s.srcIDs[source]; !ok {
		return nil
	}
	sec, nsec := storeutil.Pack(utc(at))
	changed := false
	for _, v := range values {
		r := s.recs.get(v)
		if r == nil {
			continue
		}
		pos, found := s.find(r, source)
		if !found || r.at(pos).inactive {
			continue
		}
		t.touch(r)
		e := r.at(pos)
		e.inactive = true
		e.sec[tInactive], e.nsec[tInactive] = sec, nsec
		changed = true
	}
	if changed {
		t.bump(source)
	}
	return nil
}

// Checkpoint implements sharing.Tx.
func (t *tx) Checkpoint(source string) (cte.Checkpoint, error) {
	if err := t.readable(); err != nil {
		return nil, err
	}
	return sliceCopy(t.s.checkpoints[source]), nil
}

// SetCheckpoint implements sharing.Tx. A nil checkpoint forgets the source's
// position, so its next pull is a first run.
func (t *tx) SetCheckpoint(source string, cp cte.Checkpoint) error {
	if err := t.writable("set checkpoint"); err != nil {
		return err
	}
	if err := storeutil.CheckSource("source", source); err != nil {
		return fmt.Errorf("memstore: set checkpoint: %w", err)
	}
	s := t.s
	saveKey(t, s.checkpoints, source)
	if cp == nil {
		delete(s.checkpoints, source)
		return nil
	}
	s.checkpoints[source] = sliceCopy(cp)
	return nil
}

// Ledger implements sharing.Tx.
func (t *tx) Ledger(config, value string) (sharing.LedgerEntry, bool, error) {
	if err := t.readable(); err != nil {
		return sharing.LedgerEntry{}, false, err
	}
	l := t.s.ledgers[config]
	if l == nil {
		return sharing.LedgerEntry{}, false, nil
	}
	e, ok := l.m[value]
	if !ok {
		return sharing.LedgerEntry{}, false, nil
	}
	return *e, true, nil
}

// LedgerEntries implements sharing.Tx.
func (t *tx) LedgerEntries(config string, fn func(e *sharing.LedgerEntry) error) error {
	if err := t.readable(); err != nil {
		return err
	}
	l := t.s.ledgers[config]
	if l == nil {
		return nil
	}
	for i, p := range l.idx.view() {
		if i&1023 == 1023 {
			if err := t.ctx.Err(); err != nil {
				return fmt.Errorf("memstore: ledger entries: %w", err)
			}
		}
		e := *p
		if err := fn(&e); err != nil {
			return storeutil.EndScan(err)
		}
	}
	return nil
}

// PutLedger implements sharing.Tx.
func (t *tx) PutLedger(config string, entries []sharing.LedgerEntry) error {
	if err := t.writable("put ledger"); err != nil {
		return err
	}
	if err := storeutil.CheckLedger(config, entries); err != nil {
		return fmt.Errorf("memstore: put ledger: %w", err)
	}
	s := t.s
	l := s.ledgers[config]
	if l == nil {
		l = newLedger()
		s.ledgers[config] = l
		t.undo = append(t.undo, func() { delete(s.ledgers, config) })
	}
	for i := range entries {
		e := entries[i]
		e.Value, e.Reason, e.Code = strings.Clone(e.Value), strings.Clone(e.Reason), strings.Clone(e.Code)
		e.NextAttempt, e.At = utc(e.NextAttempt), utc(e.At)
		if p, ok := l.m[e.Value]; ok {
			if !t.ledNew[l][p] {
				old := *p
				t.undo = append(t.undo, func() { *p = old })
			}
			*p = e
			continue
		}
		p := &e
		l.m[e.Value] = p
		l.idx.add(p)
		if t.ledNew == nil {
			t.ledNew = make(map[*ledger]map[*sharing.LedgerEntry]bool)
		}
		if t.ledNew[l] == nil {
			t.ledNew[l] = make(map[*sharing.LedgerEntry]bool)
		}
		t.ledNew[l][p] = true
	}
	return nil
}

// AppliedSet implements sharing.Tx.
func (t *tx) AppliedSet(config string) (sharing.AppliedSet, bool, error) {
	if err := t.readable(); err != nil {
		return sharing.AppliedSet{}, false, err
	}
	a, ok := t.s.applied[config]
	return a, ok, nil
}

// PutAppliedSet implements sharing.Tx.
func (t *tx) PutAppliedSet(config string, a sharing.AppliedSet) error {
	if err := t.writable("put applied set"); err != nil {
		return err
	}
	if err := storeutil.CheckSource("sharing configuration", config); err != nil {
		return fmt.Errorf("memstore: put applied set: %w", err)
	}
	s := t.s
	saveKey(t, s.applied, config)
	a.At = utc(a.At)
	s.applied[config] = a
	return nil
}

// Log implements sharing.Tx.
func (t *tx) Log(e sharing.AuditEntry) error {
	if err := t.writable("log"); err != nil {
		return err
	}
	s := t.s
	n, seq := len(s.audit), s.seq
	t.undo = append(t.undo, func() {
		clear(s.audit[n:])
		s.audit, s.seq = s.audit[:n], seq
	})
	s.seq++
	e.Seq = s.seq
	e.Time = utc(e.Time)
	e.Details = copyDetails(e.Details)
	s.audit = append(s.audit, e)
	return nil
}

// PruneLogs implements sharing.Tx. The kept entries move to a new slice, so
// the memory of the pruned ones is freed when the Update commits.
func (t *tx) PruneLogs(before time.Time) (int, error) {
	if err := t.writable("prune logs"); err != nil {
		return 0, err
	}
	s := t.s
	before = utc(before)
	n := 0
	for n < len(s.audit) && s.audit[n].Time.Before(before) {
		n++
	}
	if n == 0 {
		return 0, nil
	}
	old := s.audit
	t.undo = append(t.undo, func() { s.audit = old })
	s.audit = slices.Clone(s.audit[n:])
	return n, nil
}

// Logs implements sharing.Tx.
func (t *tx) Logs(f sharing.LogFilter, fn func(e sharing.AuditEntry) error) error {
	if err := t.readable(); err != nil {
		return err
	}
	since := utc(f.Since)
	pass := func(e *sharing.AuditEntry) bool {
		return e.Level >= f.MinLevel && (f.Config == "" || e.Config == f.Config) && !e.Time.Before(since)
	}
	var picked []*sharing.AuditEntry
	if f.Limit > 0 {
		for i := len(t.s.audit) - 1; i >= 0 && len(picked) < f.Limit; i-- {
			if pass(&t.s.audit[i]) {
				picked = append(picked, &t.s.audit[i])
			}
		}
		slices.Reverse(picked)
	} else {
		for i := range t.s.audit {
			if pass(&t.s.audit[i]) {
				picked = append(picked, &t.s.audit[i])
			}
		}
	}
	for _, p := range picked {
		e := *p
		e.Details = copyDetails(e.Details)
		if err := fn(e); err != nil {
			return storeutil.EndScan(err)
		}
	}
	return nil
}

// RunState implements sharing.Tx.
func (t *tx) RunState(name string) (sharing.RunState, bool, error) {
	if err := t.readable(); err != nil {
		return sharing.RunState{}, false, err
	}
	r, ok := t.s.runs[name]
	r.Counts = copyCounts(r.Counts)
	return r, ok, nil
}

// PutRunState implements sharing.Tx.
func (t *tx) PutRunState(r sharing.RunState) error {
	if err := t.writable("put run state"); err != nil {
		return err
	}
	if err := storeutil.CheckSource("run state", r.Name); err != nil {
		return fmt.Errorf("memstore: put run state: %w", err)
	}
	s := t.s
	saveKey(t, s.runs, r.Name)
	r.Name = strings.Clone(r.Name)
	r.LastRun, r.LastOK, r.Until = utc(r.LastRun), utc(r.LastOK), utc(r.Until)
	r.Counts = copyCounts(r.Counts)
	s.runs[r.Name] = r
	return nil
}
