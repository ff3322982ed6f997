package sharing

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// shareWrites is what a share writes when it ends, collected as it goes: its
// ledger entries and applied set, and its audit entries. report puts them,
// the share's summary and its run state in one transaction (one fsync, and a
// crash leaves all of it or none), then emits the audit entries.
type shareWrites struct {
	writes []func(Tx) error
	audits []AuditEntry
}

func (w *shareWrites) audit(a AuditEntry)      { w.audits = append(w.audits, a) }
func (w *shareWrites) write(fn func(Tx) error) { w.writes = append(w.writes, fn) }

// auditErr audits err at error level, to be written with the rest, and
// returns it.
func (w *shareWrites) auditErr(name string, now time.Time, err error, resolution string) error {
	w.audit(errEntry(name, now, err, resolution))
	return err
}

// commit writes w, then the change fn of the run state of key, in one
// Update, and emits w's audit entries once stored. The audit log never stops
// what it records: when that Update fails in its audit entries, the rest is
// written again without them, and they get an Update of their own (entries
// that cannot be stored are logged as such). When the rest cannot be
// written the error is returned, with nothing emitted: the caller says what
// happened. So the writes may run twice: they must not count anything.
func (e *Engine) commit(ctx context.Context, w *shareWrites, key string, fn func(*RunState)) error {
	logs := func(tx Tx) error {
		for _, a := range w.audits {
			if err := tx.Log(a); err != nil {
				return err
			}
		}
		return nil
	}
	rest := func(tx Tx) error {
		for _, write := range w.writes {
			if err := write(tx); err != nil {
				return err
			}
		}
		return putRun(tx, key, fn)
	}
	ctx2 := context.WithoutCancel(ctx)
	logsFailed := false
	err := e.store.Update(ctx2, func(tx Tx) error {
		if err := rest(tx); err != nil {
			return err
		}
		err := logs(tx)
		logsFailed = err != nil
		return err
	})
	if err != nil {
		if !logsFailed { // the same writes would fail again
			return fmt.Errorf("record the outcome: %w", err)
		}
		if rerr := e.store.Update(ctx2, rest); rerr != nil {
			return fmt.Errorf("record the outcome: %w; again without its audit entries: %w", err, rerr)
		}
		if err := e.store.Update(ctx2, logs); err != nil {
			e.log.LogAttrs(ctx, slog.LevelError, "sharing: cannot store audit entry", slog.String("config", w.audits[0].Config), slog.String("error", err.Error()))
		}
	}
	for _, a := range w.audits {
		e.emit(ctx, a)
	}
	return nil
}

// notRecorded is a share whose outcome w could not be stored (err says why):
// w's entries go to the logger only, and the failure is audited and kept in
// the share's run state on their own (fail), so that the next cycle shares
// again. It returns err.
func (e *Engine) notRecorded(ctx context.Context, w *shareWrites, name string, now time.Time, err error, resolution string) error {
	for _, a := range w.audits {
		e.emit(ctx, a)
	}
	e.fail(ctx, name, now, err, resolution)
	return err
}
