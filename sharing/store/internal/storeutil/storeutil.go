package storeutil

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
)

// ErrTxDone is returned by a Tx method called after its transaction's function
// returned.
var ErrTxDone = errors.New("sharing store: transaction used after its function returned")

// CheckSource reports an empty source or configuration name.
func CheckSource(what, name string) error {
	if name == "" {
		return fmt.Errorf("empty %s name: every %s must be named", what, what)
	}
	return nil
}

// CheckLedger reports a ledger write the store must refuse: an unnamed sharing
// configuration or an entry without a value.
func CheckLedger(config string, entries []sharing.LedgerEntry) error {
	if err := CheckSource("sharing configuration", config); err != nil {
		return err
	}
	for i := range entries {
		if entries[i].Value == "" {
			return fmt.Errorf("ledger of %q: entry %d has an empty value", config, i)
		}
	}
	return nil
}

// CheckMerge reports a page Merge must refuse whole: an unnamed source, an
// indicator CheckIndicator refuses, or a reputation that does not fit the 32
// bits a store keeps. The store adds its name: "memstore: merge: ...".
func CheckMerge(source string, in []ioc.Indicator) error {
	if err := CheckSource("source", source); err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	for i := range in {
		if err := CheckIndicator(&in[i]); err != nil {
			return fmt.Errorf("merge from %q: %w", source, err)
		}
		if r := in[i].Reputation; r < math.MinInt32 || r > math.MaxInt32 {
			return fmt.Errorf("merge from %q: indicator %q has reputation %d, want 1 to 10", source, Trunc(in[i].Value), r)
		}
	}
	return nil
}

// MaxValueLen is the longest indicator value a store keeps (bbolt's keys stop
// at 32 KiB; no product takes a URL this long).
const MaxValueLen = 16 << 10

// CheckIndicator reports an indicator the store must not keep: an invalid type,
// a value longer than MaxValueLen, or a value that is not in the normal form
// ioc.Parse gives (a store keyed by an unnormalised value would miss
// duplicates). The engine stores only values it checked, so a normal value
// costs one ioc.IsNormal pass; only a refused one is parsed, to say why.
func CheckIndicator(in *ioc.Indicator) error {
	if len(in.Value) <= MaxValueLen && ioc.IsNormal(in.Type, in.Value) {
		return nil
	}
	if len(in.Value) > MaxValueLen {
		return fmt.Errorf("%s indicator %q is %d bytes long, longer than the %d a store keeps: drop it at the source", in.Type, Trunc(in.Value), len(in.Value), MaxValueLen)
	}
	if !in.Type.Valid() {
		return fmt.Errorf("indicator %q has invalid type %d: parse it with ioc.Parse or ioc.Normalize first", Trunc(in.Value), uint8(in.Type))
	}
	v, err := ioc.Parse(in.Type, in.Value)
	if err != nil {
		return fmt.Errorf("indicator not stored: %w", err)
	}
	if v != in.Value {
		return fmt.Errorf("%s indicator %q is not in normal form (want %q): parse it with ioc.Parse first", in.Type, Trunc(in.Value), Trunc(v))
	}
	return nil
}

// Trunc shortens a value for an error message.
func Trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// Time is how a store keeps a time: UTC, without a monotonic clock reading.
// The zero time stays the zero time.
func Time(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Round(0).UTC()
}

// Pack splits a time into Unix seconds and nanoseconds; Unpack(Pack(t)) equals
// Time(t) with ==, the zero time included.
func Pack(t time.Time) (sec int64, nsec uint32) {
	return t.Unix(), uint32(t.Nanosecond())
}

// Unpack is the inverse of Pack.
func Unpack(sec int64, nsec uint32) time.Time {
	return time.Unix(sec, int64(nsec)).UTC()
}

// ZeroSec is Pack's seconds for the zero time.
var ZeroSec = time.Time{}.Unix()

// CheckRecord reports a record PutRecord must refuse: no entries, an entry of
// another value or type, an unnamed or repeated source, or an indicator
// CheckIndicator refuses. It returns the entries sorted by source, a copy.
func CheckRecord(r *sharing.Record) ([]sharing.Entry, error) {
	if len(r.Entries) == 0 {
		return nil, fmt.Errorf("record %q has no entries: delete it with DeleteRecord instead", Trunc(r.Value))
	}
	out := slices.Clone(r.Entries)
	slices.SortFunc(out, func(a, b sharing.Entry) int { return strings.Compare(a.Source, b.Source) })
	for i := range out {
		e := &out[i]
		if err := CheckSource("source", e.Source); err != nil {
			return nil, fmt.Errorf("record %q: %w", Trunc(r.Value), err)
		}
		if i > 0 && out[i-1].Source == e.Source {
			return nil, fmt.Errorf("record %q has two entries of source %q: give one per source", Trunc(r.Value), e.Source)
		}
		if e.Value != r.Value || e.Type != r.Type {
			return nil, fmt.Errorf("record %q (%s): entry of %q is %s %q: an entry must have the record's type and value", Trunc(r.Value), r.Type, e.Source, e.Type, Trunc(e.Value))
		}
		if err := CheckIndicator(&e.Indicator); err != nil {
			return nil, err
		}
		e.Tags = slices.Clone(e.Tags)
	}
	return out, nil
}

// CheckMark reports a mark PutMark must refuse: no value, an invalid type or
// an unknown kind.
func CheckMark(m *sharing.Mark) error {
	if m.Value == "" {
		return errors.New("mark has an empty value: name the value to mark")
	}
	if !m.Type.Valid() {
		return fmt.Errorf("mark of %q has invalid type %d: give the value's type", Trunc(m.Value), uint8(m.Type))
	}
	if m.Kind != sharing.MarkSafe && m.Kind != sharing.MarkDeleted {
		return fmt.Errorf("mark of %q has unknown kind %d: use sharing.MarkSafe or sharing.MarkDeleted", Trunc(m.Value), uint8(m.Kind))
	}
	return nil
}

// SeenChange reports whether a merge changed what a selection sees of an
// entry (see sharing.Tx.Version): anything but StoredAt, or StoredAt too when
// the entry has no LastSeen.
func SeenChange(old, cur *sharing.Entry) bool {
	a, b := &old.Indicator, &cur.Indicator
	return a.Type != b.Type || a.Value != b.Value || a.Severity != b.Severity || a.Reputation != b.Reputation ||
		a.Comments != b.Comments || !slices.Equal(a.Tags, b.Tags) || a.Source != b.Source ||
		!a.FirstSeen.Equal(b.FirstSeen) || !a.LastSeen.Equal(b.LastSeen) || !a.ExpiresAt.Equal(b.ExpiresAt) ||
		old.Inactive != cur.Inactive || !old.InactiveAt.Equal(cur.InactiveAt) ||
		(a.LastSeen.IsZero() && !old.StoredAt.Equal(cur.StoredAt))
}
