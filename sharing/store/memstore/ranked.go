package memstore

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/internal/storeutil"
)

var _ sharing.RankedTx = (*tx)(nil)

// Ranked implements sharing.RankedTx by sorting the source's active entries
// on demand: memstore is for tests and demos, so it keeps no index.
func (t *tx) Ranked(source string, fn func(value string, typ ioc.Type) error) error {
	all, err := t.ranked(source)
	if err != nil {
		return err
	}
	return storeutil.Each(all, func(r ranked) error { return fn(r.value, r.typ) })
}

// RankedBefore implements sharing.RankedTx, from the same sorted listing.
func (t *tx) RankedBefore(source string, before time.Time, fn func(value string, typ ioc.Type) error) (time.Time, error) {
	all, err := t.ranked(source)
	if err != nil {
		return time.Time{}, err
	}
	var next time.Time
	var older []ranked
	for _, r := range all {
		if r.lastSeen < before.UnixNano() {
			older = append(older, r)
		} else if next.IsZero() || r.lastSeen < next.UnixNano() {
			next = time.Unix(0, r.lastSeen).UTC()
		}
	}
	return next, storeutil.Each(older, func(r ranked) error { return fn(r.value, r.typ) })
}

// RankedCount implements sharing.RankedTx: the source's active entries of
// the types accepted, counted without sorting them.
func (t *tx) RankedCount(source string, accept func(ioc.Type) bool) (int, error) {
	if err := t.readable(); err != nil {
		return 0, err
	}
	n := 0
	err := t.Records(func(r *sharing.Record) error {
		if en, ok := r.Entry(source); ok && !en.Inactive && accept(en.Type) {
			n++
		}
		return nil
	})
	return n, err
}

type ranked struct {
	value    string
	typ      ioc.Type
	sev      ioc.Severity
	lastSeen int64
}

// ranked returns source's active entries in packing order.
func (t *tx) ranked(source string) ([]ranked, error) {
	if err := t.readable(); err != nil {
		return nil, err
	}
	var all []ranked
	err := t.Records(func(r *sharing.Record) error {
		if en, ok := r.Entry(source); ok && !en.Inactive {
			all = append(all, ranked{r.Value, en.Type, en.Severity, en.LastSeen.UnixNano()})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(all, func(a, b ranked) int {
		if c := cmp.Compare(b.sev, a.sev); c != 0 {
			return c
		}
		if c := cmp.Compare(b.lastSeen, a.lastSeen); c != 0 {
			return c
		}
		return strings.Compare(a.value, b.value)
	})
	return all, nil
}
