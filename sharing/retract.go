package sharing

// This file retracts: applied indicators that became inactive are removed
// from Append targets whose plugin can (cte.Retractor).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ctexchange/cte"
)

const reasonCannotRetract = "inactive, destination cannot retract"

// retractItems removes applied, now inactive indicators from an Append target of
// a plugin that implements cte.Retractor. The caller holds the target lock.
func (e *Engine) retractItems(ctx context.Context, cs *configState, dst *pluginState, items []item, now time.Time, rep *ShareReport) error {
	if len(items) == 0 {
		return nil
	}
	name := cs.cfg.Name
	r, ok := dst.p.(cte.Retractor)
	if !ok {
		rep.reason(reasonCannotRetract)
		return nil
	}
	if now.Before(e.pushWait(cs.cfg.Destination, cs.target.ID)) {
		rep.reason(reasonRateLimited) // still applied: retracted when the wait ends
		return nil
	}
	items, err := e.othersKeep(ctx, cs, items, now, rep)
	if err != nil {
		return e.auditErr(ctx, name, now, fmt.Errorf("sharing %q: retract: %w", name, err),
			"check the store; retraction is retried on the next share")
	}
	for _, b := range batches(items, cs.target.Limits.BatchSize) {
		res, err := r.Retract(ctx, cs.target, indicators(b))
		rej := make(map[string]cte.Rejected, len(res.Rejected))
		for _, x := range res.Rejected {
			rej[x.Value] = x
		}
		accounted := res.Applied+res.Unchanged+len(res.Rejected) >= len(b)
		var entries []LedgerEntry
		for i := range b {
			it := &b[i]
			if x, ok := rej[it.ind.Value]; ok {
				rep.reason("retraction refused: " + x.Reason)
				continue // still applied; tried again next time
			}
			if err == nil || accounted {
				entries = append(entries, LedgerEntry{Value: it.ind.Value, Type: it.ind.Type, State: StateRetracted, Fingerprint: it.fp, At: now})
				rep.Retracted++
			}
		}
		if perr := e.putLedger(ctx, name, entries); perr != nil {
			return e.auditErr(ctx, name, now, errors.Join(fmt.Errorf("sharing %q: record retraction: %w", name, perr), err),
				"check the store; the retraction is recorded when it is sent again on the next share")
		}
		if len(res.Rejected) > 0 {
			e.audit(ctx, AuditEntry{Time: now, Level: slog.LevelWarn, Config: name,
				Message:    fmt.Sprintf("%s %s refused to retract %d indicator(s)", cs.cfg.Destination, cs.target.ID, len(res.Rejected)),
				Details:    details("example", res.Rejected[0].Value, "reason", res.Rejected[0].Reason),
				Resolution: "they stay applied and are retracted again on the next cycle"})
		}
		if err != nil {
			if wait := serverWait(err); wait > 0 {
				e.holdPushes(cs.cfg.Destination, cs.target.ID, now.Add(wait))
			}
			err = fmt.Errorf("sharing %q: retract from %s %s: %w", name, cs.cfg.Destination, cs.target.ID, err)
			e.audit(ctx, AuditEntry{Time: now, Level: slog.LevelError, Config: name, Message: err.Error(),
				Resolution: resolution(err, cs.cfg.Destination)})
			return err
		}
	}
	if rep.Retracted > 0 {
		e.audit(ctx, AuditEntry{Time: now, Level: slog.LevelInfo, Config: name,
			Message: fmt.Sprintf("retracted %d indicator(s), inactive or marked safe or deleted, from %s %s", rep.Retracted, cs.cfg.Destination, cs.target.ID),
			Details: details("retracted", rep.Retracted, "examples", exampleValues(items, 3))})
	}
	return nil
}

// othersKeep returns the items no other sharing configuration of the same target
// still shares. For the others, the target keeps the value: this configuration's
// ledger records it retracted without asking the product to remove it.
func (e *Engine) othersKeep(ctx context.Context, cs *configState, items []item, now time.Time, rep *ShareReport) ([]item, error) {
	type sibling struct {
		name, source string
		aging        time.Duration
	}
	var sibs []sibling
	e.mu.RLock()
	for _, n := range e.siblingsLocked(cs) {
		o := e.configs[n]
		aging := DefaultAging
		if p := e.plugins[o.cfg.Source]; p != nil {
			aging = p.settings.aging()
		}
		sibs = append(sibs, sibling{n, o.cfg.Source, aging})
	}
	e.mu.RUnlock()
	if len(sibs) == 0 {
		return items, nil
	}
	var out []item
	var kept []LedgerEntry
	err := e.store.View(ctx, func(tx Tx) error {
		marks, err := loadMarks(tx)
		if err != nil {
			return err
		}
		for i := range items {
			it := &items[i]
			by, err := func() (string, error) {
				if marks.excluded(it.ind.Value) {
					return "", nil // no configuration keeps a marked value
				}
				r, ok, err := tx.Record(it.ind.Value)
				if err != nil || !ok {
					return "", err
				}
				for _, s := range sibs {
					le, ok, err := tx.Ledger(s.name, it.ind.Value)
					if err != nil {
						return "", err
					}
					if !ok || le.State != StateApplied {
						continue
					}
					if en, ok := r.Entry(s.source); ok && !en.Inactive && !expired(en, s.aging, now) {
						return s.name, nil
					}
				}
				return "", nil
			}()
			if err != nil {
				return err
			}
			if by == "" {
				out = append(out, *it)
				continue
			}
			kept = append(kept, LedgerEntry{Value: it.ind.Value, Type: it.ind.Type, State: StateRetracted, Fingerprint: it.fp,
				Reason: fmt.Sprintf("left on the target: sharing %q still shares it", by), At: now})
			rep.reason("left on the target for another sharing configuration")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, e.putLedger(ctx, cs.cfg.Name, kept)
}

func exampleValues(items []item, n int) string {
	var vs []string
	for i := 0; i < len(items) && i < n; i++ {
		vs = append(vs, items[i].ind.Value)
	}
	return strings.Join(vs, ", ")
}
