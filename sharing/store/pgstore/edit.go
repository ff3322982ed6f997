package pgstore

import (
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/internal/storeutil"
)

// Version implements sharing.Tx from table cte_versions.
func (t *tx) Version(source string) (uint64, error) {
	if err := t.readable(); err != nil {
		return 0, err
	}
	var v int64
	err := t.pg.QueryRow(t.ctx, `SELECT version FROM cte_versions WHERE source = $1`, source).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("pgstore: version of %q: %w", source, err)
	}
	return uint64(v), nil
}

// bump increases the versions of sources by one each.
func (t *tx) bump(sources ...string) error {
	slices.Sort(sources)
	sources = slices.Compact(sources)
	if len(sources) == 0 {
		return nil
	}
	_, err := t.pg.Exec(t.ctx, `INSERT INTO cte_versions AS v (source, version) SELECT unnest($1::text[]), 1
		ON CONFLICT (source) DO UPDATE SET version = v.version + 1`, sources)
	if err != nil {
		return fmt.Errorf("increase the version of %v: %w", sources, err)
	}
	return nil
}

// PutRecord implements sharing.Tx: the value's rows are deleted and written
// again.
func (t *tx) PutRecord(r sharing.Record) error {
	if err := t.writable("put record"); err != nil {
		return err
	}
	entries, err := storeutil.CheckRecord(&r)
	if err != nil {
		return fmt.Errorf("pgstore: put record: %w", err)
	}
	gone, err := t.deleteRecord(r.Value)
	if err != nil {
		return fmt.Errorf("pgstore: put record %q: %w", storeutil.Trunc(r.Value), err)
	}
	rows := newEntryRows()
	sources := gone
	for i := range entries {
		e := &entries[i]
		if err := rows.add(r.Value, e.Source, r.Type, &e.Indicator, e.Inactive, e.InactiveAt, e.StoredAt); err != nil {
			return fmt.Errorf("pgstore: put record: %w", err)
		}
		sources = append(sources, e.Source)
	}
	if err := t.copyRows("cte_entries", rows); err != nil {
		return fmt.Errorf("pgstore: put record %q: %w", storeutil.Trunc(r.Value), err)
	}
	if err := t.bump(sources...); err != nil {
		return fmt.Errorf("pgstore: put record: %w", err)
	}
	return nil
}

// deleteRecord deletes the rows of value and returns their sources.
func (t *tx) deleteRecord(value string) ([]string, error) {
	rows, err := t.pg.Query(t.ctx, `DELETE FROM cte_entries WHERE value = $1 RETURNING source`, value)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// DeleteRecord implements sharing.Tx.
func (t *tx) DeleteRecord(value string) error {
	if err := t.writable("delete record"); err != nil {
		return err
	}
	gone, err := t.deleteRecord(value)
	if err == nil {
		err = t.bump(gone...)
	}
	if err != nil {
		return fmt.Errorf("pgstore: delete record %q: %w", storeutil.Trunc(value), err)
	}
	return nil
}

// Marks implements sharing.Tx.
func (t *tx) Marks(fn func(m sharing.Mark) error) error {
	if err := t.readable(); err != nil {
		return err
	}
	rows, err := t.pg.Query(t.ctx, `SELECT value, type, kind, reason, at, ns FROM cte_marks ORDER BY value`)
	if err != nil {
		return fmt.Errorf("pgstore: marks: %w", err)
	}
	ms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (sharing.Mark, error) {
		var m sharing.Mark
		var typ, kind int16
		var at pgtype.Timestamptz
		var ns int64
		err := r.Scan(&m.Value, &typ, &kind, &m.Reason, &at, &ns)
		m.Type, m.Kind, m.At = ioc.Type(typ), sharing.MarkKind(kind), goTime(at, ns, 0)
		return m, err
	})
	if err != nil {
		return fmt.Errorf("pgstore: marks: %w", err)
	}
	return storeutil.Each(ms, fn)
}

// PutMark implements sharing.Tx.
func (t *tx) PutMark(m sharing.Mark) error {
	if err := t.writable("put mark"); err != nil {
		return err
	}
	if err := storeutil.CheckMark(&m); err != nil {
		return fmt.Errorf("pgstore: put mark: %w", err)
	}
	at, ns := dbTime(m.At)
	_, err := t.pg.Exec(t.ctx, `INSERT INTO cte_marks (value, type, kind, reason, at, ns) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (value) DO UPDATE SET type = EXCLUDED.type, kind = EXCLUDED.kind, reason = EXCLUDED.reason,
		at = EXCLUDED.at, ns = EXCLUDED.ns`, m.Value, int16(m.Type), int16(m.Kind), m.Reason, at, ns)
	if err != nil {
		return fmt.Errorf("pgstore: put mark of %q: %w", storeutil.Trunc(m.Value), err)
	}
	return nil
}

// DeleteMark implements sharing.Tx.
func (t *tx) DeleteMark(value string) error {
	if err := t.writable("delete mark"); err != nil {
		return err
	}
	if _, err := t.pg.Exec(t.ctx, `DELETE FROM cte_marks WHERE value = $1`, value); err != nil {
		return fmt.Errorf("pgstore: delete mark of %q: %w", storeutil.Trunc(value), err)
	}
	return nil
}
