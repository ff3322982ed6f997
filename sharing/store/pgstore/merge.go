package pgstore

import (
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/internal/storeutil"
)

// Merge implements sharing.Tx. It reads the page's values that are stored
// already in one query, merges in memory, then writes the new entries with
// COPY and the changed ones with COPY into a temporary table and one UPDATE,
// and increases the source's version: five round trips per page at most,
// whatever its size (three for a page of new values).
func (t *tx) Merge(source string, in []ioc.Indicator, now time.Time) (sharing.MergeStats, error) {
	if err := t.writable("merge"); err != nil {
		return sharing.MergeStats{}, err
	}
	if err := storeutil.CheckMerge(source, in); err != nil {
		return sharing.MergeStats{}, fmt.Errorf("pgstore: %w", err)
	}
	if len(in) == 0 {
		return sharing.MergeStats{}, nil
	}
	b := t.s.mergeBufs()
	defer t.s.release(b)
	b.index(in)
	p, err := t.mergeStored(source, in, now, b)
	if err != nil {
		return sharing.MergeStats{}, fmt.Errorf("pgstore: merge from %q: %w", source, err)
	}
	if p.err != nil {
		return sharing.MergeStats{}, fmt.Errorf("pgstore: merge: %w", p.err)
	}
	if err := t.writeEntries(p.ins, p.upd); err != nil {
		return sharing.MergeStats{}, fmt.Errorf("pgstore: merge from %q: %w", source, err)
	}
	if p.changed {
		if err := t.bump(source); err != nil {
			return sharing.MergeStats{}, fmt.Errorf("pgstore: merge from %q: %w", source, err)
		}
	}
	return p.st, nil
}

// mergePlan is what a Merge writes.
type mergePlan struct {
	st       sharing.MergeStats
	ins, upd *entryRows // rows to insert, rows to update
	changed  bool       // the source's data changes: bump its version
	err      error      // a row PostgreSQL would refuse
}

// mergeStored reads the stored entries of the page's values and plans the
// merge of the page with them. The plan for a page none of whose values is
// stored (a feed's new indicators, the bulk of an ingest) is made while the
// server looks them up; it is made again when some are stored.
func (t *tx) mergeStored(source string, in []ioc.Indicator, now time.Time, b *mergeBufs) (mergePlan, error) {
	var p mergePlan
	guessed := make(chan struct{})
	go func() {
		defer close(guessed)
		p = plan(source, in, nil, now, b)
	}()
	stored, err := t.storedFor(source, b)
	<-guessed
	if err != nil || len(stored) == 0 {
		return p, err
	}
	return plan(source, in, stored, now, b), nil
}

// plan merges the page with the stored entries into b.ws and sorts the
// result into rows to insert and rows to update.
func plan(source string, in []ioc.Indicator, stored map[string]storedEntry, now time.Time, b *mergeBufs) mergePlan {
	p := mergePlan{st: mergePage(in, b.pos, stored, b.ws, b.seen), ins: newEntryRows(), upd: newEntryRows()}
	p.ins.rows = b.rows[:0]
	defer func() { b.rows = p.ins.rows }()
	for k := range b.ws {
		w := &b.ws[k]
		rows := p.ins
		if w.inDB {
			rows = p.upd
		}
		if p.err = rows.add(b.values[k], source, w.recType, &w.ind, false, time.Time{}, now); p.err != nil {
			return p
		}
		if !w.inDB {
			p.changed = true
		} else if !p.changed {
			old := stored[b.values[k]].e
			w.ind.Source = source
			cur := sharing.Entry{Indicator: w.ind, StoredAt: storeutil.Time(now)}
			p.changed = storeutil.SeenChange(&old, &cur)
		}
	}
	return p
}

// mergeBufs is a Merge's working memory, kept for the next Merge of the
// store (Updates run one at a time): it would otherwise be most of an
// ingest's garbage, and the collector's work a good part of the client's
// time.
type mergeBufs struct {
	order  storeutil.PageOrder
	pos    []int    // the position in values of each indicator's value
	values []string // the page's distinct values, in order
	ws     []work   // the merged entry of each value
	seen   []bool
	rows   []entryRow
	param  []byte // the values as a binary text[]
}

// maxKept is the most indicators of a page whose working memory is kept.
const maxKept = 1 << 14

// mergeBufs returns the kept working memory, or new.
func (s *Store) mergeBufs() *mergeBufs {
	select {
	case b := <-s.bufs:
		return b
	default:
		return &mergeBufs{}
	}
}

// release empties b, dropping its references to the page, and keeps it for
// the next Merge unless the page was large.
func (s *Store) release(b *mergeBufs) {
	if len(b.pos) > maxKept {
		return
	}
	clear(b.values)
	clear(b.ws)
	clear(b.rows[:cap(b.rows)])
	b.values, b.ws, b.rows, b.param = b.values[:0], b.ws[:0], b.rows[:0], b.param[:0]
	select {
	case s.bufs <- b:
	default:
	}
}

// index sets values and pos from the page, and sizes ws and seen. In value
// order, the index probes of the read and the inserts of the COPY walk the
// primary key's pages in order instead of at random: about a fifth less of
// the server's time for pages of random hashes. The page is sorted by
// storeutil.PageOrder: under half the time of sorting the strings and
// finding their positions in a map.
func (b *mergeBufs) index(in []ioc.Indicator) {
	b.pos = slices.Grow(b.pos[:0], len(in))[:len(in)]
	for _, i := range b.order.Sort(in) {
		v := in[i].Value
		if n := len(b.values); n == 0 || b.values[n-1] != v {
			b.values = append(b.values, v)
		}
		b.pos[i] = len(b.values) - 1
	}
	n := len(b.values)
	b.ws = slices.Grow(b.ws[:0], n)[:n]
	b.seen = slices.Grow(b.seen[:0], n)[:n]
}

// work is one distinct value of a page being merged.
type work struct {
	ind     ioc.Indicator
	recType ioc.Type
	inDB    bool // this source's entry is stored: update it
}

// mergePage folds the page into one work item per distinct value in ws (pos
// gives the position of each indicator's), merged with the stored entry of the source, and
// counts; seen is its scratch.
func mergePage(in []ioc.Indicator, pos []int, stored map[string]storedEntry, ws []work, seen []bool) sharing.MergeStats {
	var st sharing.MergeStats
	clear(seen)
	for i := range in {
		x := in[i]
		k := pos[i]
		w := &ws[k]
		switch old, ok := stored[x.Value]; {
		case seen[k]:
			w.ind = ioc.Merge(w.ind, x)
			st.Updated++
		case ok && old.mine:
			*w = work{ind: ioc.Merge(old.e.Indicator, x), recType: old.recType, inDB: true}
			st.Updated++
		case ok:
			*w = work{ind: x, recType: old.recType}
			st.Added++
		default:
			*w = work{ind: x, recType: x.Type}
			st.New++
		}
		seen[k] = true
	}
	return st
}

func (t *tx) writeEntries(ins, upd *entryRows) error {
	if len(ins.rows) > 0 {
		if err := t.copyRows("cte_entries", ins); err != nil {
			return fmt.Errorf("copy %d new entries: %w", len(ins.rows), err)
		}
	}
	if len(upd.rows) == 0 {
		return nil
	}
	tmp, err := t.tempTable("cte_entries")
	if err != nil {
		return err
	}
	if err := t.copyRows(tmp, upd); err != nil {
		return fmt.Errorf("copy %d changed entries: %w", len(upd.rows), err)
	}
	_, err = t.pg.Exec(t.ctx, `UPDATE cte_entries e SET type = m.type, severity = m.severity, reputation = m.reputation,
		comments = m.comments, tags = m.tags, first_seen = m.first_seen, last_seen = m.last_seen, expires_at = m.expires_at,
		inactive = false, inactive_at = NULL, stored_at = m.stored_at, ns = m.ns
		FROM `+tmp+` m WHERE e.value = m.value AND e.source = m.source; TRUNCATE `+tmp)
	if err != nil {
		return fmt.Errorf("update %d entries: %w", len(upd.rows), err)
	}
	return nil
}

// copyRows copies rows into table (cte_entries or its temporary twin) with
// the connection's COPY protocol, in one round trip; the rows are encoded as
// the connection sends them.
func (t *tx) copyRows(table string, rows *entryRows) error {
	_, err := t.pg.Conn().PgConn().CopyFrom(t.ctx, rows, copyEntries(table))
	return err
}

// storedEntry is what Merge needs of a stored value: the record's type and
// this source's entry, when it has one.
type storedEntry struct {
	recType ioc.Type
	mine    bool
	e       sharing.Entry
}

// selectStoredFor reads the rows of the values in $1 (text[]), and whether
// each is of source $2. A prepared statement: the plan of a query with the
// values in it would weigh each of them (thousands) against the statistics.
const selectStoredFor = `SELECT value, source = $2, rec_type, type, severity, reputation,
	comments, tags, first_seen, last_seen, expires_at, inactive, inactive_at, stored_at, ns
	FROM cte_entries WHERE value = ANY($1::text[])`

// storedFor reads the stored values among b.values: this source's entry when
// there is one, else any entry (for the record's type, which all share).
func (t *tx) storedFor(source string, b *mergeBufs) (map[string]storedEntry, error) {
	// The values go as one binary text[] encoded here, through pgconn: pgx
	// would box and encode each of them on its own.
	conn := t.pg.Conn()
	sd, err := conn.Prepare(t.ctx, "cte_stored_for", selectStoredFor)
	if err != nil {
		return nil, fmt.Errorf("read stored values: %w", err)
	}
	b.param = appendArrayBody(slices.Grow(b.param[:0], arrayLen(b.values)), b.values)
	rr := conn.PgConn().ExecPrepared(t.ctx, sd.Name, [][]byte{b.param, []byte(source)},
		[]int16{pgtype.BinaryFormatCode, pgtype.BinaryFormatCode}, []int16{pgtype.BinaryFormatCode})
	rows := pgx.RowsFromResultReader(conn.TypeMap(), rr)
	defer rows.Close()
	out := map[string]storedEntry{}
	for rows.Next() {
		var v string
		var mine bool
		var f entryFields
		if err := f.scan(rows, &v, &mine); err != nil {
			return nil, fmt.Errorf("read stored values: %w", err)
		}
		if old, ok := out[v]; ok && old.mine {
			continue // another source's entry of a value this source reported
		}
		out[v] = storedEntry{recType: ioc.Type(f.recType), mine: mine, e: f.entry(v, source)}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read stored values: %w", err)
	}
	return out, nil
}
