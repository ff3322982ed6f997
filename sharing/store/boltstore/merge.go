package boltstore

// This file merges pulled indicators into records and marks them inactive.

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/internal/storeutil"
)

// Merge implements sharing.Tx.
func (t *tx) Merge(source string, in []ioc.Indicator, now time.Time) (sharing.MergeStats, error) {
	var st sharing.MergeStats
	if err := t.writable("merge"); err != nil {
		return st, err
	}
	if err := storeutil.CheckSource("source", source); err != nil {
		return st, fmt.Errorf("boltstore: merge: %w", err)
	}
	for i := range in {
		if err := storeutil.CheckIndicator(&in[i]); err != nil {
			return st, fmt.Errorf("boltstore: merge from %q: %w", source, err)
		}
	}
	// A failed Put below leaves the page half merged; the caller's Update
	// must then fail, which rolls the whole transaction back.
	now = storeutil.Time(now)
	t.pendingHint = len(in)
	// In value order the records bucket is walked left to right: each leaf is
	// found warm, and a value twice in a page merges in order.
	order := t.order.Sort(in)
	// Before this Merge staged anything, a value can be pending only when it
	// is the one just merged: the pending map need not be searched.
	prior, prev := len(t.pending) > 0, ""
	changed := false
	for _, i := range order {
		x := &in[i]
		t.noPending = !prior && x.Value != prev
		prev = x.Value
		v, err := t.getRecord(x.Value)
		t.noPending = false
		if err != nil {
			return st, err
		}
		if v == nil {
			e := &t.one[0]
			*e = sharing.Entry{Indicator: *x, StoredAt: now}
			e.Source = source
			normTimes(e)
			if err := t.rank(x.Value, nil, e); err != nil {
				return st, err
			}
			t.enc = appendRecord(t.enc[:0], x.Type, t.one[:])
			e.Indicator = ioc.Indicator{}
			if err := t.putRecord(x.Value, t.enc); err != nil {
				return st, fmt.Errorf("boltstore: merge %q from %q: %w", storeutil.Trunc(x.Value), source, err)
			}
			st.New++
			changed = true
			continue
		}
		r, ch, err := t.mergeEntry(source, x, v, now, &st)
		if err != nil {
			return st, err
		}
		changed = changed || ch
		t.enc = appendRecord(t.enc[:0], r.Type, r.Entries)
		if bytes.Equal(t.enc, v) {
			// Unchanged, e.g. a value repeated in one page (same time, same
			// data): staging it again would only grow the file.
			continue
		}
		if err := t.putRecord(x.Value, t.enc); err != nil {
			return st, fmt.Errorf("boltstore: merge %q from %q: %w", storeutil.Trunc(x.Value), source, err)
		}
	}
	if err := t.flushRank(); err != nil {
		return st, err
	}
	if changed {
		if err := t.bump(source); err != nil {
			return st, err
		}
	}
	return st, t.foldWhenFull()
}

// foldWhenFull folds the staging log once it holds foldAt versions, or an
// eighth of that (524,288 by default) when the records bucket holds at least
// as many values (about: the key filter's count, once built). A first sync
// keeps its log until Close folds it once; a running process on a large
// store folds about as often as before the log grew to 4M versions, and
// its file does not keep millions of old versions.
func (t *tx) foldWhenFull() error {
	if t.direct || t.foldLater != nil {
		return nil
	}
	n := t.staged()
	if n < t.s.foldAt && (n < max(t.s.foldAt/8, 1) || t.s.filter == nil || t.s.filter.n < n) {
		return nil
	}
	return t.foldOrRebuild()
}

// mergeEntry merges x into the stored record v (encoded), counting into st,
// and returns the merged record and whether a selection sees a change.
func (t *tx) mergeEntry(source string, x *ioc.Indicator, v []byte, now time.Time, st *sharing.MergeStats) (*sharing.Record, bool, error) {
	r := &t.mrec
	if err := decodeRecord(x.Value, v, r, &t.mtag, t.str); err != nil {
		return nil, false, fmt.Errorf("boltstore: record %q: %w", storeutil.Trunc(x.Value), err)
	}
	pos, found := slices.BinarySearchFunc(r.Entries, source, func(e sharing.Entry, s string) int {
		return strings.Compare(e.Source, s)
	})
	if !found {
		e := sharing.Entry{Indicator: *x, StoredAt: now}
		e.Source = source
		normTimes(&e)
		if err := t.rank(x.Value, nil, &e); err != nil {
			return nil, false, err
		}
		r.Entries = slices.Insert(r.Entries, pos, e)
		st.Added++
		return r, true, nil
	}
	e := &r.Entries[pos]
	old := *e
	e.Indicator = ioc.Merge(e.Indicator, *x)
	e.Source = source
	e.Inactive, e.InactiveAt, e.StoredAt = false, time.Time{}, now
	normTimes(e)
	if err := t.rank(x.Value, &old, e); err != nil {
		return nil, false, err
	}
	st.Updated++
	return r, storeutil.SeenChange(&old, e), nil
}

func normTimes(e *sharing.Entry) {
	e.FirstSeen = storeutil.Time(e.FirstSeen)
	e.LastSeen = storeutil.Time(e.LastSeen)
	e.ExpiresAt = storeutil.Time(e.ExpiresAt)
}

// SetInactive implements sharing.Tx. An entry already inactive keeps the time
// it became so.
func (t *tx) SetInactive(source string, values []string, at time.Time) error {
	if err := t.writable("set inactive"); err != nil {
		return err
	}
	at = storeutil.Time(at)
	r := &t.mrec
	changed := false
	for _, value := range values {
		v, err := t.getRecord(value)
		if err != nil {
			return err
		}
		if v == nil {
			continue
		}
		if err := decodeRecord(value, v, r, &t.mtag, t.str); err != nil {
			return fmt.Errorf("boltstore: record %q: %w", value, err)
		}
		e, ok := r.Entry(source)
		if !ok || e.Inactive {
			continue
		}
		if err := t.rank(value, e, nil); err != nil {
			return err
		}
		e.Inactive, e.InactiveAt = true, at
		t.enc = appendRecord(t.enc[:0], r.Type, r.Entries)
		if err := t.putRecord(value, t.enc); err != nil {
			return fmt.Errorf("boltstore: set %q inactive: %w", value, err)
		}
		changed = true
	}
	if err := t.flushRank(); err != nil {
		return err
	}
	if changed {
		return t.bump(source)
	}
	return nil
}
