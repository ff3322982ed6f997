package sharing

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"time"
)

// audit stores an entry and emits it on the logger. A store failure is logged, not
// returned: the audit log must never stop a share that already happened.
func (e *Engine) audit(ctx context.Context, a AuditEntry) {
	if a.Time.IsZero() {
		a.Time = e.now()
	}
	err := e.store.Update(context.WithoutCancel(ctx), func(tx Tx) error { return tx.Log(a) })
	e.emit(ctx, a)
	if err != nil {
		e.log.LogAttrs(ctx, slog.LevelError, "sharing: cannot store audit entry", slog.String("config", a.Config), slog.String("error", err.Error()))
	}
}

// emit writes a to the logger.
func (e *Engine) emit(ctx context.Context, a AuditEntry) {
	if !e.log.Enabled(ctx, a.Level) {
		return
	}
	attrs := make([]slog.Attr, 0, 3+len(a.Details))
	attrs = append(attrs, slog.String("config", a.Config))
	for _, k := range slices.Sorted(maps.Keys(a.Details)) {
		attrs = append(attrs, slog.String(k, a.Details[k]))
	}
	if a.Resolution != "" {
		attrs = append(attrs, slog.String("resolution", a.Resolution))
	}
	e.log.LogAttrs(ctx, a.Level, a.Message, attrs...)
}

// Logs returns the audit entries that pass f, oldest first.
func (e *Engine) Logs(ctx context.Context, f LogFilter) ([]AuditEntry, error) {
	var out []AuditEntry
	err := e.store.View(ctx, func(tx Tx) error {
		return tx.Logs(f, func(a AuditEntry) error {
			out = append(out, a)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("sharing: logs: %w", err)
	}
	return out, nil
}

// PruneLogs deletes the audit entries older than the log retention
// (WithLogRetention) and returns how many it deleted; with a retention of 0 it
// does nothing. Run calls it once when it starts and then every
// LogPruneInterval; hosts that drive the engine step by step call it
// themselves, e.g. daily. A prune that deletes entries logs one entry saying how
// many and the cutoff, in the same transaction; a failure is audited and
// returned.
func (e *Engine) PruneLogs(ctx context.Context) (int, error) {
	if e.logKeep == 0 {
		return 0, nil
	}
	now := e.now()
	cutoff := now.Add(-e.logKeep)
	note := AuditEntry{Time: now, Level: slog.LevelInfo}
	n := 0
	err := e.store.Update(ctx, func(tx Tx) error {
		var err error
		if n, err = tx.PruneLogs(cutoff); err != nil || n == 0 {
			return err
		}
		note.Message = fmt.Sprintf("deleted %d audit entries older than %s (log retention %s)",
			n, cutoff.UTC().Format(time.RFC3339), e.logKeep)
		note.Details = details("deleted", n, "cutoff", cutoff.UTC().Format(time.RFC3339Nano), "retention", e.logKeep.String())
		return tx.Log(note)
	})
	if err != nil {
		err = fmt.Errorf("sharing: prune audit log before %s: %w", cutoff.UTC().Format(time.RFC3339), err)
		if ctx.Err() == nil {
			e.audit(ctx, AuditEntry{Level: slog.LevelError, Message: err.Error(),
				Resolution: "the audit log keeps its old entries until a prune succeeds; check the state store (disk space, permissions)"})
		}
		return 0, err
	}
	if n > 0 {
		e.emit(ctx, note)
	}
	return n, nil
}

// details builds an audit Details map from key, value pairs; ints are formatted.
func details(kv ...any) map[string]string {
	m := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		k := fmt.Sprint(kv[i])
		switch v := kv[i+1].(type) {
		case int:
			m[k] = strconv.Itoa(v)
		case string:
			m[k] = v
		default:
			m[k] = fmt.Sprint(v)
		}
	}
	return m
}

// putRun records the outcome of a run of a source or configuration.
func (e *Engine) putRun(ctx context.Context, key string, at time.Time, runErr error, counts map[string]int) {
	e.updateRun(ctx, key, func(rs *RunState) { recordRun(rs, at, runErr, counts, skipState{}) })
}

// updateRun changes the run state of key in one Update; a store error is
// logged, as the run itself is done.
func (e *Engine) updateRun(ctx context.Context, key string, fn func(rs *RunState)) {
	err := e.store.Update(context.WithoutCancel(ctx), func(tx Tx) error { return putRun(tx, key, fn) })
	if err != nil {
		e.log.LogAttrs(ctx, slog.LevelError, "sharing: cannot store run state", slog.String("config", key), slog.String("error", err.Error()))
	}
}

// putRun changes the run state of key in tx with fn (a new one when there
// is none yet).
func putRun(tx Tx, key string, fn func(rs *RunState)) error {
	rs, _, err := tx.RunState(key)
	if err != nil {
		return err
	}
	rs.Name = key
	fn(&rs)
	return tx.PutRunState(rs)
}

// DetailValues returns the entry's details for JSON: a detail that is a whole
// number (a count) becomes a number, the others stay text. The CLI's --json and
// the console's API both answer with it, so they cannot disagree.
func (a AuditEntry) DetailValues() map[string]any {
	if len(a.Details) == 0 {
		return nil
	}
	out := make(map[string]any, len(a.Details))
	for k, v := range a.Details {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			out[k] = n
		} else {
			out[k] = v
		}
	}
	return out
}
