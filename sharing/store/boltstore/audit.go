package boltstore

// This file keeps the audit log, run states and source versions.

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/internal/storeutil"
)

// bump increases the version of source (see sharing.Tx.Version).
func (t *tx) bump(source string) error {
	b := t.bucket(bVersions)
	n := uint64(0)
	if v := b.Get([]byte(source)); len(v) == 8 {
		n = binary.BigEndian.Uint64(v)
	}
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], n+1)
	if err := t.put(b, []byte(source), buf[:]); err != nil {
		return fmt.Errorf("boltstore: version of %q: %w", source, err)
	}
	return nil
}

// Version implements sharing.Tx.
func (t *tx) Version(source string) (uint64, error) {
	if err := t.readable(); err != nil {
		return 0, err
	}
	v := t.bucket(bVersions).Get([]byte(source))
	switch len(v) {
	case 0:
		return 0, nil
	case 8:
		return binary.BigEndian.Uint64(v), nil
	}
	return 0, fmt.Errorf("boltstore: version of %q: %w: %d bytes", source, errCorrupt, len(v))
}

// Log implements sharing.Tx.
func (t *tx) Log(e sharing.AuditEntry) error {
	if err := t.writable("log"); err != nil {
		return err
	}
	b := t.bucket(bAudit)
	seq, err := b.NextSequence()
	if err != nil {
		return fmt.Errorf("boltstore: log: %w", err)
	}
	e.Seq = seq
	e.Time = storeutil.Time(e.Time)
	return t.putJSON(bAudit, binary.BigEndian.AppendUint64(nil, seq), e)
}

// PruneLogs implements sharing.Tx. Keys are sequence numbers in the order the
// entries were logged, so it deletes from the first key while the entry's Time
// is before the cutoff, decoding only the time of the entries it reads. The
// bucket's sequence is untouched: numbers are never reused.
func (t *tx) PruneLogs(before time.Time) (int, error) {
	if err := t.writable("prune logs"); err != nil {
		return 0, err
	}
	before = storeutil.Time(before)
	b := t.bucket(bAudit)
	c := b.Cursor()
	n := 0
	// After a Delete, First finds the next key (Next after Delete can skip one).
	for k, v := c.First(); k != nil; k, v = c.First() {
		var e struct{ Time time.Time }
		if err := json.Unmarshal(v, &e); err != nil {
			return n, fmt.Errorf("boltstore: prune logs: audit entry %x: %w", k, err)
		}
		if !e.Time.Before(before) {
			break
		}
		if err := c.Delete(); err != nil {
			return n, fmt.Errorf("boltstore: prune logs: delete %x: %w", k, err)
		}
		n++
	}
	return n, nil
}

// Logs implements sharing.Tx. With a Limit it reads from the newest entry back.
func (t *tx) Logs(f sharing.LogFilter, fn func(e sharing.AuditEntry) error) error {
	if err := t.readable(); err != nil {
		return err
	}
	since := storeutil.Time(f.Since)
	pass := func(e *sharing.AuditEntry) bool {
		return e.Level >= f.MinLevel && (f.Config == "" || e.Config == f.Config) && !e.Time.Before(since)
	}
	decode := func(k, v []byte) (sharing.AuditEntry, error) {
		var e sharing.AuditEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return e, fmt.Errorf("boltstore: audit entry %x: %w", k, err)
		}
		e.Time = storeutil.Time(e.Time)
		return e, nil
	}
	c := t.bucket(bAudit).Cursor()
	if f.Limit <= 0 {
		for k, v := c.First(); k != nil; k, v = c.Next() {
			e, err := decode(k, v)
			if err != nil {
				return err
			}
			if !pass(&e) {
				continue
			}
			if err := fn(e); err != nil {
				return storeutil.EndScan(err)
			}
		}
		return nil
	}
	var picked []sharing.AuditEntry
	for k, v := c.Last(); k != nil && len(picked) < f.Limit; k, v = c.Prev() {
		e, err := decode(k, v)
		if err != nil {
			return err
		}
		if pass(&e) {
			picked = append(picked, e)
		}
	}
	slices.Reverse(picked)
	return storeutil.Each(picked, fn)
}

// RunState implements sharing.Tx.
func (t *tx) RunState(name string) (sharing.RunState, bool, error) {
	var r sharing.RunState
	ok, err := t.getJSON(bRuns, name, &r)
	if err != nil {
		return sharing.RunState{}, false, err
	}
	r.LastRun, r.LastOK, r.Until = storeutil.Time(r.LastRun), storeutil.Time(r.LastOK), storeutil.Time(r.Until)
	return r, ok, nil
}

// PutRunState implements sharing.Tx.
func (t *tx) PutRunState(r sharing.RunState) error {
	if err := t.writable("put run state"); err != nil {
		return err
	}
	if err := storeutil.CheckSource("run state", r.Name); err != nil {
		return fmt.Errorf("boltstore: put run state: %w", err)
	}
	r.LastRun, r.LastOK, r.Until = storeutil.Time(r.LastRun), storeutil.Time(r.LastOK), storeutil.Time(r.Until)
	return t.putJSON(bRuns, []byte(r.Name), r)
}
