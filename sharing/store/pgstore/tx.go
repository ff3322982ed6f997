package pgstore

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/internal/storeutil"
)

// Checkpoint implements sharing.Tx.
func (t *tx) Checkpoint(source string) (cte.Checkpoint, error) {
	if err := t.readable(); err != nil {
		return nil, err
	}
	var cp []byte
	err := t.pg.QueryRow(t.ctx, `SELECT checkpoint FROM cte_checkpoints WHERE source = $1`, source).Scan(&cp)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pgstore: checkpoint of %q: %w", source, err)
	}
	if cp == nil {
		cp = []byte{}
	}
	return cp, nil
}

// SetCheckpoint implements sharing.Tx. A nil checkpoint forgets the source's
// position, so its next pull is a first run.
func (t *tx) SetCheckpoint(source string, cp cte.Checkpoint) error {
	if err := t.writable("set checkpoint"); err != nil {
		return err
	}
	if err := storeutil.CheckSource("source", source); err != nil {
		return fmt.Errorf("pgstore: set checkpoint: %w", err)
	}
	var err error
	if cp == nil {
		_, err = t.pg.Exec(t.ctx, `DELETE FROM cte_checkpoints WHERE source = $1`, source)
	} else {
		_, err = t.pg.Exec(t.ctx, `INSERT INTO cte_checkpoints (source, checkpoint) VALUES ($1, $2)
			ON CONFLICT (source) DO UPDATE SET checkpoint = EXCLUDED.checkpoint`, source, []byte(cp))
	}
	if err != nil {
		return fmt.Errorf("pgstore: set checkpoint of %q: %w", source, err)
	}
	return nil
}

const selectLedger = `SELECT value, type, state, fingerprint, reason, code, attempts, next_attempt, at, ns FROM cte_ledger `

func scanLedger(row pgx.Row) (sharing.LedgerEntry, error) {
	var e sharing.LedgerEntry
	var typ, state int16
	var fp int64
	var attempts int32
	var next, at pgtype.Timestamptz
	var ns int64
	if err := row.Scan(&e.Value, &typ, &state, &fp, &e.Reason, &e.Code, &attempts, &next, &at, &ns); err != nil {
		return e, err
	}
	e.Type, e.State, e.Fingerprint, e.Attempts = ioc.Type(typ), sharing.LedgerState(state), uint64(fp), int(attempts)
	e.NextAttempt, e.At = goTime(next, ns, 0), goTime(at, ns, 1)
	return e, nil
}

// ledgerPrefetchAfter is how many point lookups in one configuration's
// ledger a transaction makes before it reads that whole ledger at once.
const ledgerPrefetchAfter = 64

// Ledger implements sharing.Tx.
func (t *tx) Ledger(config, value string) (sharing.LedgerEntry, bool, error) {
	if err := t.readable(); err != nil {
		return sharing.LedgerEntry{}, false, err
	}
	if m, ok := t.ledgers[config]; ok {
		e, ok := m[value]
		return e, ok, nil
	}
	if t.ledgerLookups == nil {
		t.ledgerLookups = map[string]int{}
	}
	if t.ledgerLookups[config]++; t.ledgerLookups[config] == ledgerPrefetchAfter {
		if err := t.prefetchLedger(config); err != nil {
			return sharing.LedgerEntry{}, false, err
		}
		e, ok := t.ledgers[config][value]
		return e, ok, nil
	}
	e, err := scanLedger(t.pg.QueryRow(t.ctx, selectLedger+`WHERE config = $1 AND value = $2`, config, value))
	if errors.Is(err, pgx.ErrNoRows) {
		return sharing.LedgerEntry{}, false, nil
	}
	if err != nil {
		return sharing.LedgerEntry{}, false, fmt.Errorf("pgstore: ledger of %q: %w", config, err)
	}
	return e, true, nil
}

// prefetchLedger reads the whole ledger of config into t.ledgers.
func (t *tx) prefetchLedger(config string) error {
	rows, err := t.pg.Query(t.ctx, selectLedger+`WHERE config = $1`, config)
	if err != nil {
		return fmt.Errorf("pgstore: ledger of %q: %w", config, err)
	}
	m := map[string]sharing.LedgerEntry{}
	for rows.Next() {
		e, err := scanLedger(rows)
		if err != nil {
			rows.Close()
			return fmt.Errorf("pgstore: ledger of %q: %w", config, err)
		}
		m[e.Value] = e
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("pgstore: ledger of %q: %w", config, err)
	}
	if t.ledgers == nil {
		t.ledgers = map[string]map[string]sharing.LedgerEntry{}
	}
	t.ledgers[config] = m
	return nil
}

// LedgerEntries implements sharing.Tx. Like Records, it reads scanChunk entries
// per query, so fn may write.
func (t *tx) LedgerEntries(config string, fn func(e *sharing.LedgerEntry) error) error {
	if err := t.readable(); err != nil {
		return err
	}
	after := ""
	for {
		if err := t.cancelled("ledger entries"); err != nil {
			return err
		}
		rows, err := t.pg.Query(t.ctx, selectLedger+`WHERE config = $1 AND value > $2 ORDER BY value LIMIT $3`, config, after, scanChunk)
		if err != nil {
			return fmt.Errorf("pgstore: ledger of %q: %w", config, err)
		}
		es, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (sharing.LedgerEntry, error) { return scanLedger(r) })
		if err != nil {
			return fmt.Errorf("pgstore: ledger of %q: %w", config, err)
		}
		for i := range es {
			if err := fn(&es[i]); err != nil {
				return storeutil.EndScan(err)
			}
		}
		if len(es) < scanChunk {
			return nil
		}
		after = es[len(es)-1].Value
	}
}

// ledgerBatch is how many ledger entries one statement writes.
const ledgerBatch = 20000

// PutLedger implements sharing.Tx: batched upserts, ledgerBatch entries per
// statement (the last entry of a value wins).
func (t *tx) PutLedger(config string, entries []sharing.LedgerEntry) error {
	if err := t.writable("put ledger"); err != nil {
		return err
	}
	if err := storeutil.CheckLedger(config, entries); err != nil {
		return fmt.Errorf("pgstore: put ledger: %w", err)
	}
	last := make(map[string]int, len(entries))
	for i := range entries {
		last[entries[i].Value] = i
	}
	n := len(last)
	values, reasons, codes := make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	types, states := make([]int16, 0, n), make([]int16, 0, n)
	fps, nss := make([]int64, 0, n), make([]int64, 0, n)
	attempts := make([]int32, 0, n)
	nexts, ats := make([]pgtype.Timestamptz, 0, n), make([]pgtype.Timestamptz, 0, n)
	flush := func() error {
		if len(values) == 0 {
			return nil
		}
		_, err := t.pg.Exec(t.ctx, `INSERT INTO cte_ledger (config, value, type, state, fingerprint, reason, code, attempts, next_attempt, at, ns)
			SELECT $1, * FROM unnest($2::text[], $3::int2[], $4::int2[], $5::int8[], $6::text[], $7::text[], $8::int4[], $9::timestamptz[], $10::timestamptz[], $11::int8[])
			ON CONFLICT (config, value) DO UPDATE SET type = EXCLUDED.type, state = EXCLUDED.state, fingerprint = EXCLUDED.fingerprint,
			reason = EXCLUDED.reason, code = EXCLUDED.code, attempts = EXCLUDED.attempts, next_attempt = EXCLUDED.next_attempt,
			at = EXCLUDED.at, ns = EXCLUDED.ns`,
			config, values, types, states, fps, reasons, codes, attempts, nexts, ats, nss)
		values, reasons, codes, types, states = values[:0], reasons[:0], codes[:0], types[:0], states[:0]
		fps, nss, attempts, nexts, ats = fps[:0], nss[:0], attempts[:0], nexts[:0], ats[:0]
		return err
	}
	for i := range entries {
		e := &entries[i]
		if last[e.Value] != i {
			continue
		}
		next, at, ns := tsArg(e.NextAttempt), tsArg(e.At), packNS(e.NextAttempt, e.At)
		values, reasons, codes = append(values, e.Value), append(reasons, e.Reason), append(codes, e.Code)
		types, states = append(types, int16(e.Type)), append(states, int16(e.State))
		fps, nss, attempts = append(fps, int64(e.Fingerprint)), append(nss, ns), append(attempts, int32(e.Attempts))
		nexts, ats = append(nexts, next), append(ats, at)
		if len(values) == ledgerBatch {
			if err := flush(); err != nil {
				return fmt.Errorf("pgstore: put ledger of %q: %w", config, err)
			}
		}
	}
	if err := flush(); err != nil {
		return fmt.Errorf("pgstore: put ledger of %q: %w", config, err)
	}
	if m := t.ledgers[config]; m != nil {
		for v, i := range last {
			e := entries[i]
			e.NextAttempt, e.At = storeutil.Time(e.NextAttempt), storeutil.Time(e.At)
			m[v] = e
		}
	}
	return nil
}

// tsArg is t as a timestamptz array element (NULL for the zero time).
func tsArg(t time.Time) pgtype.Timestamptz {
	v, _ := dbTime(t)
	if v == nil {
		return pgtype.Timestamptz{}
	}
	return pgtype.Timestamptz{Time: v.(time.Time), Valid: true}
}

// packNS is the ns column value of times.
func packNS(ts ...time.Time) int64 {
	_, ns := packTimes(ts...)
	return ns
}

// AppliedSet implements sharing.Tx.
func (t *tx) AppliedSet(config string) (sharing.AppliedSet, bool, error) {
	if err := t.readable(); err != nil {
		return sharing.AppliedSet{}, false, err
	}
	var a sharing.AppliedSet
	var count int32
	var at pgtype.Timestamptz
	var ns int64
	err := t.pg.QueryRow(t.ctx, `SELECT digest, count, at, target, ns FROM cte_applied WHERE config = $1`, config).
		Scan(&a.Digest, &count, &at, &a.Target, &ns)
	if errors.Is(err, pgx.ErrNoRows) {
		return sharing.AppliedSet{}, false, nil
	}
	if err != nil {
		return sharing.AppliedSet{}, false, fmt.Errorf("pgstore: applied set of %q: %w", config, err)
	}
	a.Count, a.At = int(count), goTime(at, ns, 0)
	return a, true, nil
}

// PutAppliedSet implements sharing.Tx.
func (t *tx) PutAppliedSet(config string, a sharing.AppliedSet) error {
	if err := t.writable("put applied set"); err != nil {
		return err
	}
	if err := storeutil.CheckSource("sharing configuration", config); err != nil {
		return fmt.Errorf("pgstore: put applied set: %w", err)
	}
	at, ns := dbTime(a.At)
	_, err := t.pg.Exec(t.ctx, `INSERT INTO cte_applied (config, digest, count, at, target, ns) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (config) DO UPDATE SET digest = EXCLUDED.digest, count = EXCLUDED.count, at = EXCLUDED.at,
		target = EXCLUDED.target, ns = EXCLUDED.ns`, config, a.Digest, int32(a.Count), at, a.Target, ns)
	if err != nil {
		return fmt.Errorf("pgstore: put applied set of %q: %w", config, err)
	}
	return nil
}

// Log implements sharing.Tx. Seq comes from a sequence: it grows, and numbers
// of rolled-back entries are skipped, never reused.
func (t *tx) Log(e sharing.AuditEntry) error {
	if err := t.writable("log"); err != nil {
		return err
	}
	at, ns := dbTime(e.Time)
	var details any
	if e.Details != nil {
		details = e.Details
	}
	_, err := t.pg.Exec(t.ctx, `INSERT INTO cte_audit (time, level, config, message, details, resolution, ns)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, at, int32(e.Level), e.Config, e.Message, details, e.Resolution, ns)
	if err != nil {
		return fmt.Errorf("pgstore: log: %w", err)
	}
	return nil
}

// PruneLogs implements sharing.Tx with one statement: it finds the first entry
// in Seq order that is not older than before, and deletes those before it.
func (t *tx) PruneLogs(before time.Time) (int, error) {
	if err := t.writable("prune logs"); err != nil {
		return 0, err
	}
	at, ns := dbTime(before)
	tag, err := t.pg.Exec(t.ctx, `DELETE FROM cte_audit WHERE seq < coalesce((SELECT seq FROM cte_audit
		WHERE time > $1 OR (time = $1 AND ns >= $2) OR $1::timestamptz IS NULL ORDER BY seq LIMIT 1), 9223372036854775807)`, at, ns)
	if err != nil {
		return 0, fmt.Errorf("pgstore: prune logs: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// Logs implements sharing.Tx.
func (t *tx) Logs(f sharing.LogFilter, fn func(e sharing.AuditEntry) error) error {
	if err := t.readable(); err != nil {
		return err
	}
	since, sinceNS := dbTime(f.Since)
	where := `WHERE level >= $1 AND ($2 = '' OR config = $2) AND ($3::timestamptz IS NULL OR time > $3 OR (time = $3 AND ns >= $4))`
	q := `SELECT seq, time, level, config, message, details, resolution, ns FROM cte_audit ` + where + ` ORDER BY seq`
	args := []any{int32(f.MinLevel), f.Config, since, sinceNS}
	if f.Limit > 0 {
		q = `SELECT * FROM (SELECT seq, time, level, config, message, details, resolution, ns FROM cte_audit ` + where +
			` ORDER BY seq DESC LIMIT $5) newest ORDER BY seq`
		args = append(args, f.Limit)
	}
	rows, err := t.pg.Query(t.ctx, q, args...)
	if err != nil {
		return fmt.Errorf("pgstore: logs: %w", err)
	}
	es, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (sharing.AuditEntry, error) {
		var e sharing.AuditEntry
		var seq int64
		var at pgtype.Timestamptz
		var level int32
		var ns int64
		err := r.Scan(&seq, &at, &level, &e.Config, &e.Message, &e.Details, &e.Resolution, &ns)
		e.Seq, e.Time, e.Level = uint64(seq), goTime(at, ns, 0), slog.Level(level)
		return e, err
	})
	if err != nil {
		return fmt.Errorf("pgstore: logs: %w", err)
	}
	return storeutil.Each(es, fn)
}

// RunState implements sharing.Tx.
func (t *tx) RunState(name string) (sharing.RunState, bool, error) {
	if err := t.readable(); err != nil {
		return sharing.RunState{}, false, err
	}
	r := sharing.RunState{Name: name}
	var run, ok pgtype.Timestamptz
	var ns int64
	var until pgtype.Timestamptz
	err := t.pg.QueryRow(t.ctx, `SELECT last_run, last_ok, last_error, counts, inputs, until, ns FROM cte_runs WHERE name = $1`, name).
		Scan(&run, &ok, &r.LastError, &r.Counts, &r.Inputs, &until, &ns)
	if errors.Is(err, pgx.ErrNoRows) {
		return sharing.RunState{}, false, nil
	}
	if err != nil {
		return sharing.RunState{}, false, fmt.Errorf("pgstore: run state of %q: %w", name, err)
	}
	r.LastRun, r.LastOK, r.Until = goTime(run, ns, 0), goTime(ok, ns, 1), goTime(until, ns, 2)
	return r, true, nil
}

// PutRunState implements sharing.Tx.
func (t *tx) PutRunState(r sharing.RunState) error {
	if err := t.writable("put run state"); err != nil {
		return err
	}
	if err := storeutil.CheckSource("run state", r.Name); err != nil {
		return fmt.Errorf("pgstore: put run state: %w", err)
	}
	times, ns := packTimes(r.LastRun, r.LastOK, r.Until)
	var counts any
	if r.Counts != nil {
		counts = r.Counts
	}
	_, err := t.pg.Exec(t.ctx, `INSERT INTO cte_runs (name, last_run, last_ok, last_error, counts, inputs, until, ns)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (name) DO UPDATE SET last_run = EXCLUDED.last_run, last_ok = EXCLUDED.last_ok,
		last_error = EXCLUDED.last_error, counts = EXCLUDED.counts, inputs = EXCLUDED.inputs, until = EXCLUDED.until,
		ns = EXCLUDED.ns`,
		r.Name, times[0], times[1], r.LastError, counts, r.Inputs, times[2], ns)
	if err != nil {
		return fmt.Errorf("pgstore: put run state of %q: %w", r.Name, err)
	}
	return nil
}
