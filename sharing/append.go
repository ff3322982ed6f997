package sharing

// This file shares to Append targets: only what the ledger does not show
// applied, in the target's batches.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/ctexchange/cte"
)

func (e *Engine) shareAppend(ctx context.Context, cs *configState, dst *pluginState, s *scan, rep *ShareReport) error {
	unlock, err := e.lockTarget(ctx, cs)
	if err != nil {
		return err
	}
	defer unlock()
	if err := e.putLedger(ctx, cs.cfg.Name, s.settled); err != nil {
		return e.auditErr(ctx, cs.cfg.Name, s.now, fmt.Errorf("sharing %q: record inactive retryable indicators: %w", cs.cfg.Name, err),
			"check the store; they are recorded on the next share")
	}
	// A failed retraction is audited and tried again on the next share; it does
	// not keep new indicators from the target, unless the product asked to wait
	// or the share was stopped.
	rerr := e.retractItems(ctx, cs, dst, s.retract, s.now, rep)
	if rerr != nil && (ctx.Err() != nil || errors.Is(rerr, cte.ErrRateLimited)) {
		return rerr
	}
	return errors.Join(rerr, e.pushAppend(ctx, cs, dst, s, rep))
}

// pushAppend pushes s.send in batches and records the outcomes. The caller
// holds the target lock.
func (e *Engine) pushAppend(ctx context.Context, cs *configState, dst *pluginState, s *scan, rep *ShareReport) error {
	now := s.now
	name := cs.cfg.Name
	if until := e.pushWait(cs.cfg.Destination, cs.target.ID); now.Before(until) && len(s.send) > 0 {
		entries := make([]LedgerEntry, len(s.send))
		for i := range s.send {
			entries[i] = e.failed(&s.send[i], now, true, "not sent: the product asked to wait until "+until.UTC().Format(time.RFC3339), "", false)
			entries[i].NextAttempt = until
		}
		rep.Retrying += len(entries)
		rep.reason(reasonRateLimited)
		if err := e.putLedger(ctx, name, entries); err != nil {
			return e.auditErr(ctx, name, now, fmt.Errorf("sharing %q: record held indicators: %w", name, err),
				"check the store; the held indicators are sent when the wait ends")
		}
		return nil
	}
	slices.SortFunc(s.send, byPriority)
	e.auditUnconfirmed(ctx, name, s.send, now)
	bs := batches(s.send, cs.target.Limits.BatchSize)
	for i, b := range bs {
		// The intent first: after a crash during the push, the ledger tells
		// sent-but-unconfirmed (sending) from never sent (no new entry).
		b, err := e.recordSending(ctx, name, b, now)
		if err != nil {
			return e.auditErr(ctx, name, now, fmt.Errorf("sharing %q: record the push about to be sent: %w", name, err),
				"check the store; nothing of this batch was sent, it is sent on the next share")
		}
		if len(b) == 0 {
			continue
		}
		res, err := dst.p.Push(ctx, cs.target, indicators(b))
		rep.Sent += len(b)
		entries := e.outcome(b, res, err, now, ctx.Err() != nil, rep)
		if err != nil {
			for _, rest := range bs[i+1:] {
				for j := range rest {
					entries = append(entries, e.failed(&rest[j], now, true, "not sent: "+err.Error(), "", false))
					rep.Retrying++
					rep.reason("not sent")
				}
			}
			// Honour the wait a rate-limited product asked for.
			if wait := serverWait(err); wait > 0 {
				e.holdPushes(cs.cfg.Destination, cs.target.ID, now.Add(wait))
				for k := range entries {
					retry := entries[k].State == StateRetryable || entries[k].State == StateApplied && !entries[k].NextAttempt.IsZero()
					if retry && entries[k].NextAttempt.Before(now.Add(wait)) {
						entries[k].NextAttempt = now.Add(wait)
					}
				}
			}
		}
		if perr := e.putLedger(ctx, name, entries); perr != nil {
			perr = fmt.Errorf("sharing %q: record push outcome: %w", name, perr)
			e.audit(ctx, AuditEntry{Time: now, Level: slog.LevelError, Config: name, Message: perr.Error(),
				Resolution: "check the store; indicators whose outcome was not recorded are sent again"})
			return errors.Join(perr, err)
		}
		if err != nil {
			err = fmt.Errorf("sharing %q: push to %s %s: %w", name, cs.cfg.Destination, cs.target.ID, err)
			e.audit(ctx, AuditEntry{Time: now, Level: errorLevel(err), Config: name, Message: err.Error(),
				Details:    details("batch", i+1, "batches", len(bs), "not sent", countRest(bs[i+1:])),
				Resolution: resolution(err, cs.cfg.Destination)})
			return err
		}
	}
	return nil
}

// codeHeld marks a sending entry of a value the target held an earlier
// version of (StateApplied before), so that it stays applied when this
// version is refused after a restart.
const codeHeld = "held"

// recordSending records a batch as being sent, before its push, and returns
// it without the values an operator marked (safe or deleted) since the
// share read them: in the same Update, so that a Delete, on this instance
// or another, either sees the sending entries (and keeps its mark until the
// value is retracted) or is seen here (and the value is not sent).
func (e *Engine) recordSending(ctx context.Context, config string, b []item, now time.Time) ([]item, error) {
	var out []item
	err := e.store.Update(context.WithoutCancel(ctx), func(tx Tx) error {
		marks, err := loadMarks(tx)
		if err != nil {
			return err
		}
		out = out[:0]
		for _, it := range b {
			if !marks.excluded(it.ind.Value) {
				out = append(out, it)
			}
		}
		if len(out) == 0 {
			return nil
		}
		return tx.PutLedger(config, sendingEntries(out, now))
	})
	return out, err
}

// sendingEntries returns the ledger entries that record a batch as being
// sent, before the push.
func sendingEntries(b []item, now time.Time) []LedgerEntry {
	out := make([]LedgerEntry, len(b))
	for i := range b {
		it := &b[i]
		le := LedgerEntry{Value: it.ind.Value, Type: it.ind.Type, State: StateSending, Fingerprint: it.fp,
			Reason: "sent, not confirmed yet", At: now}
		if it.prev != nil {
			le.Attempts = it.prev.Attempts
			if it.prev.State == StateApplied || it.prev.State == StateSending && it.prev.Code == codeHeld {
				le.Code = codeHeld
			}
		}
		out[i] = le
	}
	return out
}

// auditUnconfirmed says that values sent by a share that stopped before it
// knew the outcome (a crash) are sent again: the product may get them twice.
func (e *Engine) auditUnconfirmed(ctx context.Context, name string, send []item, now time.Time) {
	n, example := 0, ""
	for i := range send {
		if p := send[i].prev; p != nil && p.State == StateSending {
			if n++; example == "" {
				example = send[i].ind.Value
			}
		}
	}
	if n > 0 {
		e.audit(ctx, AuditEntry{Time: now, Level: slog.LevelWarn, Config: name,
			Message:    fmt.Sprintf("%d indicator(s) were being sent when the last share stopped, without an answer; sending them again (the product may receive them twice)", n),
			Details:    details("unconfirmed", n, "example", example),
			Resolution: "none needed: sending twice is harmless for an Append target"})
	}
}

// serverWait returns the wait a rate-limited product asked for, or 0.
func serverWait(err error) time.Duration {
	wait, _ := cte.RetryAfter(err)
	return wait
}

func countRest(bs [][]item) int {
	n := 0
	for _, b := range bs {
		n += len(b)
	}
	return n
}
