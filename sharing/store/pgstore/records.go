package pgstore

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/internal/storeutil"
)

// entryCols are the columns of cte_entries in table order.
var entryCols = []string{"value", "source", "rec_type", "type", "severity", "reputation", "comments", "tags",
	"first_seen", "last_seen", "expires_at", "inactive", "inactive_at", "stored_at", "ns"}

const selectEntries = `SELECT value, source, rec_type, type, severity, reputation, comments, tags,
	first_seen, last_seen, expires_at, inactive, inactive_at, stored_at, ns FROM cte_entries `

// scanChunk is how many rows a scan reads per query; the scan's function runs
// between queries, so it may read and write in the same transaction.
const scanChunk = 1000

// entryFields holds the columns of a cte_entries row that follow the value
// and the source column (selectEntries' order), as entryFields.scan fills them.
type entryFields struct {
	recType, typ, sev              int16
	rep                            int32
	comments                       string
	tags                           []string
	first, last, exp, inAt, stored pgtype.Timestamptz
	inactive                       bool
	ns                             int64
}

// scan reads a row of the value, then src (the source, or whether the entry
// is the merging source's), then the entry's columns.
func (f *entryFields) scan(rows pgx.Rows, value *string, src any) error {
	return rows.Scan(value, src, &f.recType, &f.typ, &f.sev, &f.rep, &f.comments, &f.tags, &f.first, &f.last, &f.exp,
		&f.inactive, &f.inAt, &f.stored, &f.ns)
}

// entry is the entry of value and source that the row holds.
func (f *entryFields) entry(value, source string) sharing.Entry {
	return sharing.Entry{
		Indicator: ioc.Indicator{Type: ioc.Type(f.typ), Value: value, Severity: ioc.Severity(f.sev), Reputation: int(f.rep),
			Comments: f.comments, Tags: nilIfEmpty(f.tags), FirstSeen: goTime(f.first, f.ns, 0), LastSeen: goTime(f.last, f.ns, 1),
			ExpiresAt: goTime(f.exp, f.ns, 2), Source: source},
		Inactive: f.inactive, InactiveAt: goTime(f.inAt, f.ns, 3), StoredAt: goTime(f.stored, f.ns, 4),
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// readRecords runs a query over selectEntries ordered by value and source and
// groups its rows into records.
func (t *tx) readRecords(where string, args ...any) ([]sharing.Record, int, error) {
	rows, err := t.pg.Query(t.ctx, selectEntries+where, args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []sharing.Record
	n := 0
	for rows.Next() {
		n++
		var v, src string
		var f entryFields
		if err := f.scan(rows, &v, &src); err != nil {
			return nil, 0, err
		}
		if len(out) == 0 || out[len(out)-1].Value != v {
			out = append(out, sharing.Record{Type: ioc.Type(f.recType), Value: v})
		}
		r := &out[len(out)-1]
		r.Entries = append(r.Entries, f.entry(v, src))
	}
	return out, n, rows.Err()
}

// readAhead serves Record lookups that go up in value order (a share reading
// the values it packed, which it keeps sorted) from windows of scanChunk rows
// read at once, instead of one round trip each. It is used in read-only
// transactions only, whose snapshot cannot change under it, and only while
// the lookups ascend and each window serves enough of them.
type readAhead struct {
	last     string           // the previous lookup
	rising   int              // consecutive ascending lookups
	from, to string           // the window covers values from..to
	recs     []sharing.Record // the window, in value order
	served   int              // lookups the window answered
	cool     int              // point lookups to make before trying a window again
}

// readAheadAfter is how many ascending lookups start the read-ahead.
const readAheadAfter = 64

// lookup answers value from the window, or says it cannot.
func (a *readAhead) lookup(value string) (sharing.Record, bool, bool) {
	rising := value > a.last
	a.last = value
	if !rising {
		a.rising, a.recs = 0, nil
		return sharing.Record{}, false, false
	}
	a.rising++
	if a.recs == nil || value < a.from || value > a.to {
		return sharing.Record{}, false, false
	}
	a.served++
	i, ok := slices.BinarySearchFunc(a.recs, value, func(r sharing.Record, v string) int { return strings.Compare(r.Value, v) })
	if !ok {
		return sharing.Record{}, false, true
	}
	return cloneRecord(a.recs[i]), true, true
}

func cloneRecord(r sharing.Record) sharing.Record {
	r.Entries = slices.Clone(r.Entries)
	for i := range r.Entries {
		r.Entries[i].Tags = slices.Clone(r.Entries[i].Tags)
	}
	return r
}

// fill reads the window starting at value; false when it should not (the
// lookups do not ascend, the last window served too few, a full window of
// one value).
func (t *tx) fillAhead(value string) (bool, error) {
	a := &t.ahead
	if t.write || a.rising < readAheadAfter {
		return false, nil
	}
	if a.cool > 0 {
		a.cool--
		return false, nil
	}
	if a.recs != nil && a.served < scanChunk/20 {
		a.recs, a.cool = nil, readAheadAfter // sparse lookups: point queries are cheaper
		return false, nil
	}
	recs, n, err := t.readRecords(`WHERE value >= $1 ORDER BY value, source LIMIT $2`, value, scanChunk)
	if err != nil {
		return false, err
	}
	a.from, a.to, a.served = value, "\xff\xff\xff\xff", 0
	if n == scanChunk {
		if len(recs) < 2 {
			a.recs = nil
			return false, nil
		}
		recs = recs[:len(recs)-1] // its last value may have more rows
		a.to = recs[len(recs)-1].Value
	}
	a.recs = recs
	return true, nil
}

// Record implements sharing.Tx.
func (t *tx) Record(value string) (sharing.Record, bool, error) {
	if err := t.readable(); err != nil {
		return sharing.Record{}, false, err
	}
	if !t.write {
		if r, ok, hit := t.ahead.lookup(value); hit {
			return r, ok, nil
		}
		filled, err := t.fillAhead(value)
		if err != nil {
			return sharing.Record{}, false, fmt.Errorf("pgstore: record %q: %w", storeutil.Trunc(value), err)
		}
		if filled {
			t.ahead.last = "" // value is the window's first: answer it from there
			t.ahead.rising--
			if r, ok, hit := t.ahead.lookup(value); hit {
				return r, ok, nil
			}
		}
	}
	recs, _, err := t.readRecords(`WHERE value = $1 ORDER BY source`, value)
	if err != nil {
		return sharing.Record{}, false, fmt.Errorf("pgstore: record %q: %w", storeutil.Trunc(value), err)
	}
	if len(recs) == 0 {
		return sharing.Record{}, false, nil
	}
	return recs[0], true, nil
}

// Records implements sharing.Tx. It reads scanChunk rows per query, after the
// last value it gave fn, so fn may write, and sees the writes made after its
// position. It checks the context before each record.
func (t *tx) Records(fn func(r *sharing.Record) error) error {
	if err := t.readable(); err != nil {
		return err
	}
	after := ""
	for {
		if err := t.cancelled("records"); err != nil {
			return err
		}
		recs, n, err := t.readRecords(`WHERE value > $1 ORDER BY value, source LIMIT $2`, after, scanChunk)
		if err != nil {
			return fmt.Errorf("pgstore: records: %w", err)
		}
		full := n == scanChunk
		if full && len(recs) > 1 {
			recs = recs[:len(recs)-1] // the last value may have more entries: read it again with the next chunk
		} else if full {
			r, _, err := t.Record(recs[0].Value) // one value with scanChunk sources or more
			if err != nil {
				return err
			}
			recs[0] = r
		}
		for i := range recs {
			if err := t.cancelled("records"); err != nil {
				return err
			}
			if err := fn(&recs[i]); err != nil {
				return storeutil.EndScan(err)
			}
		}
		if !full {
			return nil
		}
		after = recs[len(recs)-1].Value
	}
}

// SetInactive implements sharing.Tx. An entry already inactive keeps the time
// it became so.
func (t *tx) SetInactive(source string, values []string, at time.Time) error {
	if err := t.writable("set inactive"); err != nil {
		return err
	}
	if len(values) == 0 {
		return nil
	}
	ts, rem := dbTime(at)
	tag, err := t.pg.Exec(t.ctx, `UPDATE cte_entries SET inactive = true, inactive_at = $3,
		ns = (ns & ~(1023::bigint << 30)) | ($4::bigint << 30)
		WHERE source = $1 AND value = ANY($2) AND NOT inactive`, source, values, ts, rem)
	if err != nil {
		return fmt.Errorf("pgstore: set %d value(s) of %q inactive: %w", len(values), source, err)
	}
	if tag.RowsAffected() > 0 {
		if err := t.bump(source); err != nil {
			return fmt.Errorf("pgstore: set inactive: %w", err)
		}
	}
	return nil
}
