package sharing

// This file keeps the operator's marks (safe, deleted): reading them, the
// one predicate every selection asks, and settling a deleted value once no
// target may hold it; and applies an action at once.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/ctexchange/cte/ioc"
)

// Marks returns the marks, in value order.
func (e *Engine) Marks(ctx context.Context) ([]Mark, error) {
	var out []Mark
	err := e.store.View(ctx, func(tx Tx) error {
		return tx.Marks(func(m Mark) error {
			out = append(out, m)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("sharing: marks: %w", err)
	}
	return out, nil
}

// apply runs the shares of configs when the action asks for it, then forgets
// the deleted marks whose values no target holds any more.
func (e *Engine) apply(ctx context.Context, rep ActionReport, opts []ActionOption, configs []string) (ActionReport, error) {
	var o actionOptions
	for _, f := range opts {
		f(&o)
	}
	if !o.now || len(rep.Values) == 0 {
		return rep, nil
	}
	var errs []error
	for _, name := range configs {
		sr, err := e.Share(ctx, name)
		rep.Shares = append(rep.Shares, sr)
		errs = append(errs, err)
	}
	errs = append(errs, e.settleDeleted(ctx))
	return rep, errors.Join(errs...)
}

// holding returns the sharing configurations whose ledger shows one of values
// applied: those that must retract it.
func (e *Engine) holding(ctx context.Context, values []string) []string {
	var out []string
	cfgs := e.Configs()
	_ = e.store.View(ctx, func(tx Tx) error {
		for _, c := range cfgs {
			for _, v := range values {
				le, ok, err := tx.Ledger(c.Name, v)
				if err != nil {
					return err
				}
				if ok && mayHold(le) {
					out = append(out, c.Name)
					break
				}
			}
		}
		return nil
	})
	return out
}

// reporting returns the sharing configurations whose source reports one of
// values: those that may share it.
func (e *Engine) reporting(ctx context.Context, values []string) []string {
	srcs := map[string]bool{}
	_ = e.store.View(ctx, func(tx Tx) error {
		for _, v := range values {
			r, ok, err := tx.Record(v)
			if err != nil {
				return err
			}
			if ok {
				for _, s := range r.Sources() {
					srcs[s] = true
				}
			}
		}
		return nil
	})
	var out []string
	for _, c := range e.Configs() {
		if srcs[c.Source] {
			out = append(out, c.Name)
		}
	}
	return out
}

// settleDeleted removes the deleted marks of values no sharing configuration
// has applied any more.
func (e *Engine) settleDeleted(ctx context.Context) error {
	cfgs := e.Configs()
	held := func(tx Tx, v string) (bool, error) {
		for _, c := range cfgs {
			le, ok, err := tx.Ledger(c.Name, v)
			if err != nil || ok && mayHold(le) {
				return true, err
			}
		}
		return false, nil
	}
	var done []string
	err := e.store.View(ctx, func(tx Tx) error {
		return tx.Marks(func(m Mark) error {
			if m.Kind != MarkDeleted {
				return nil
			}
			h, err := held(tx, m.Value)
			if err == nil && !h {
				done = append(done, m.Value)
			}
			return err
		})
	})
	if err == nil && len(done) > 0 {
		err = e.store.Update(ctx, func(tx Tx) error {
			for _, v := range done {
				// again in the Update: a share of another instance may
				// have started sending it since the View
				if h, err := held(tx, v); err != nil || h {
					if err != nil {
						return err
					}
					continue
				}
				if err := tx.DeleteMark(v); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		return fmt.Errorf("sharing: forget deleted values retracted everywhere: %w", err)
	}
	return nil
}

// mayHold reports whether a ledger entry says its target may hold the value:
// applied, or being sent (sent, its answer not recorded yet; another
// instance's push in flight).
func mayHold(le LedgerEntry) bool { return le.State == StateApplied || le.State == StateSending }

// markSet holds the marks a share reads once, by value.
type markSet map[string]Mark

func loadMarks(tx Tx) (markSet, error) {
	m := markSet{}
	err := tx.Marks(func(k Mark) error {
		m[k.Value] = k
		return nil
	})
	return m, err
}

// excluded is the one predicate every selection (Share, Plan, Explain, the
// lifecycle) asks: a marked value is never shared.
func (m markSet) excluded(value string) bool {
	_, ok := m[value]
	return ok
}

// retractMarked finds, for an Append target, the marked values the ledger
// shows applied: they are retracted like inactive ones. A marked value waiting
// for a retry is settled: it will never be sent.
func (s *scan) retractMarked(tx Tx) error {
	if s.fresh {
		return nil
	}
	for _, v := range slices.Sorted(maps.Keys(s.marks)) {
		m := s.marks[v]
		le, ok, err := tx.Ledger(s.cfg.Name, m.Value)
		if err != nil {
			return err
		}
		switch {
		case !ok:
		case le.State == StateApplied:
			s.toRetrct++
			s.addSample(m.Value, m.Type, "retract")
			if s.keep {
				s.retract = append(s.retract, item{ind: ioc.Indicator{Type: m.Type, Value: m.Value, Source: s.cfg.Source}, fp: le.Fingerprint, prev: &le})
			}
		case le.State == StateRetryable && s.keep:
			s.settled = append(s.settled, LedgerEntry{Value: m.Value, Type: m.Type, State: StateRetracted,
				Fingerprint: le.Fingerprint, Reason: "marked " + m.Kind.String() + " before it could be shared", At: s.now})
		}
	}
	return nil
}
