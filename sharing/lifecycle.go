package sharing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
)

// AgeReport says what one Age pass did.
type AgeReport struct {
	Inactive  map[string]int // indicators marked inactive, by source
	Retracted int            // removed from Append targets
}

// inactiveChunk is how many values one SetInactive transaction takes.
const inactiveChunk = 5000

// Age marks inactive, for every source, the indicators whose aging period after
// lastSeen or whose own ExpiresAt has passed, then retracts the inactive
// indicators applied to Append targets of plugins implementing cte.Retractor,
// recording StateRetracted in the ledger. Replace targets drop them on their next
// push. Errors of one source or configuration do not stop the others; they are
// audited and returned joined.
func (e *Engine) Age(ctx context.Context) (AgeReport, error) {
	rep := AgeReport{Inactive: map[string]int{}}
	sources := e.pullSources()
	var errs []error
	for _, src := range sources {
		n, err := e.ageSource(ctx, src)
		rep.Inactive[src] = n
		errs = append(errs, err)
	}
	for _, c := range e.Configs() {
		n, err := e.retractInactive(ctx, c.Name)
		rep.Retracted += n
		errs = append(errs, err)
	}
	return rep, errors.Join(errs...)
}

// ageSource marks the expired entries of a source inactive. It reads the
// whole source only when its aging state (see agingInputs) says something may
// have expired since the last pass.
func (e *Engine) ageSource(ctx context.Context, source string) (int, error) {
	p, err := e.plugin(source)
	if err != nil {
		return 0, err
	}
	now := e.now()
	aging := p.settings.aging()
	a, err := e.ageScan(ctx, source, aging, now)
	if err != nil || a.skip {
		return 0, err
	}
	values, ver := a.values, a.ver
	done, marked := 0, 0
	tainted := false // another writer changed the source since the scan
	for err == nil && done < len(values) {
		chunk := values[done:min(done+inactiveChunk, len(values))]
		var still []string
		err = e.store.Update(ctx, func(tx Tx) error {
			// A pull may have stored a fresh report since the scan: check again.
			still = still[:0]
			for _, v := range chunk {
				r, ok, err := tx.Record(v)
				if err != nil {
					return err
				}
				if en, ok2 := r.Entry(source); ok && ok2 && !en.Inactive && expired(en, aging, now) {
					still = append(still, v)
				}
			}
			before, err := tx.Version(source)
			if err != nil {
				return err
			}
			tainted = tainted || before != ver
			if err := tx.SetInactive(source, still, now); err != nil {
				return err
			}
			if err := memoInactive(tx, source, before, still, now); err != nil {
				return err
			}
			ver, err = tx.Version(source)
			return err
		})
		if err == nil {
			done += len(chunk)
			marked += len(still)
			e.recordsChanged()
		}
	}
	if err == nil {
		err = e.saveAging(ctx, source, aging, ver, a.due, a.own, tainted)
	}
	if err != nil {
		err = fmt.Errorf("sharing: age source %q: %w", source, err)
		e.audit(ctx, AuditEntry{Time: now, Level: slog.LevelError, Config: source, Message: err.Error(),
			Details: details("marked inactive", marked), Resolution: "check the store; aging is retried on the next pass"})
		return marked, err
	}
	if marked > 0 {
		e.audit(ctx, AuditEntry{Time: now, Level: slog.LevelInfo, Config: source,
			Message: fmt.Sprintf("%d indicator(s) of %s aged out and are no longer shared", marked, source),
			Details: details("inactive", marked, "aging", aging.String(), "examples", strings.Join(values[:min(3, len(values))], ", "))})
	}
	return marked, nil
}

// agePass is what an aging pass of a source found: the values that expired,
// the earliest expiry of the others, and how many of those have their own
// ExpiresAt; ver is the source's version it read, and skip says the aging
// record showed nothing could have expired.
type agePass struct {
	aging  time.Duration
	now    time.Time
	values []string
	due    time.Time
	own    int
	ver    uint64
	skip   bool
}

// see judges one stored entry of the source (ok: the record has one).
func (a *agePass) see(value string, en *Entry, ok bool) {
	switch {
	case !ok || en.Inactive:
	case expired(en, a.aging, a.now):
		a.values = append(a.values, value)
	default:
		a.due = earliest(a.due, dueAt(en, a.aging))
		if ownExpiry(en) {
			a.own++
		}
	}
}

// ageScan finds the expired entries of source, and the earliest expiry of
// the others, unless the aging record says nothing can have expired (skip).
func (e *Engine) ageScan(ctx context.Context, source string, aging time.Duration, now time.Time) (*agePass, error) {
	a := &agePass{aging: aging, now: now}
	err := e.store.View(ctx, func(tx Tx) error {
		var err error
		if a.ver, err = tx.Version(source); err != nil {
			return err
		}
		rs, found, err := tx.RunState(agingKey(source))
		if err != nil {
			return err
		}
		inputs := agingInputs(source, aging, a.ver)
		if a.skip = canSkip(rs, found, inputs, now); a.skip {
			return nil
		}
		if a.skip = !found && a.ver == 0 && !pulledBefore(tx, source); a.skip {
			return nil // nothing stored yet: nothing to age
		}
		if n, counted := rs.Counts[countOwnExpiries]; counted && n == 0 && rs.Inputs == inputs {
			rt, ok := tx.(RankedTx)
			if cut := now.Add(-aging); ok && cut.Year() >= 1700 && cut.Year() < 2200 {
				return a.oldest(tx, rt, source, cut)
			}
		}
		return tx.Records(func(r *Record) error {
			en, ok := r.Entry(source)
			a.see(r.Value, en, ok)
			return nil
		})
	})
	return a, err
}

// countOwnExpiries is the count of an aging pass's run state that says how
// many active entries of the source have their own ExpiresAt (at most, since
// the last full pass counted them): while it is 0, an entry expires only by
// its LastSeen, and a pass reads only the entries seen before now minus the
// aging (agePass.oldest). A record without it (written before it was kept) or not
// current (the source changed by another way than a pull) makes a full pass.
const countOwnExpiries = "ownExpiries"

// oldest is an aging pass that reads only what expires (RankedTx): the
// source's active entries seen before cut (now minus the aging; those with
// no LastSeen too, which age by StoredAt), each judged as a full pass judges
// it, and the next expiry from the oldest entry seen since. It holds when no
// active entry of the source has its own ExpiresAt.
func (a *agePass) oldest(tx Tx, rt RankedTx, source string, cut time.Time) error {
	var old []string
	next, err := rt.RankedBefore(source, cut, func(v string, _ ioc.Type) error {
		old = append(old, v)
		return nil
	})
	if err != nil {
		return err
	}
	if !next.IsZero() {
		a.due = next.Add(a.aging)
	}
	slices.Sort(old) // records are read in key order
	for _, v := range old {
		r, ok, err := tx.Record(v)
		if err != nil {
			return err
		}
		en, has := r.Entry(source)
		a.see(v, en, ok && has)
	}
	return nil
}

// pulledBefore reports whether source completed a pull before.
func pulledBefore(tx Tx, source string) bool {
	_, found, err := tx.RunState(sourceKey(source))
	return found || err != nil
}

// agingKey is the run state that records a source's last aging pass.
func agingKey(source string) string { return "aging/" + source }

// agingInputs fingerprints what an aging pass of source reads.
func agingInputs(source string, aging time.Duration, version uint64) string {
	f := newFingerprinter("aging")
	f.add(source, aging, version)
	return f.sum()
}

// saveAging records a complete aging pass: nothing of source expires before
// due unless the source changes (a pull keeps the record up to date, see
// lowerAging). A pass another writer overlapped records nothing.
func (e *Engine) saveAging(ctx context.Context, source string, aging time.Duration, ver uint64, due time.Time, own int, tainted bool) error {
	return e.store.Update(context.WithoutCancel(ctx), func(tx Tx) error {
		cur, err := tx.Version(source)
		if err != nil {
			return err
		}
		rs, _, err := tx.RunState(agingKey(source))
		if err != nil {
			return err
		}
		at := e.now()
		rs.Name, rs.LastRun, rs.LastOK, rs.LastError = agingKey(source), at, at, ""
		rs.Inputs, rs.Until = "", time.Time{}
		if !tainted && cur == ver {
			rs.Inputs, rs.Until = agingInputs(source, aging, ver), untilOr(due)
			rs.Counts = map[string]int{countOwnExpiries: own}
		}
		return tx.PutRunState(rs)
	})
}

// lowerAging keeps the aging record of source current through a Merge of in
// (in the same transaction): when it was current before the Merge (or the
// source had no entries), it stays so with the new version, and its due time
// no later than the earliest expiry in. Otherwise the next aging pass reads
// the whole source.
func lowerAging(tx Tx, source string, aging time.Duration, before uint64, in []ioc.Indicator, now time.Time) error {
	rs, found, err := tx.RunState(agingKey(source))
	switch {
	case err != nil:
		return err
	case !found && before == 0 && !pulledBefore(tx, source):
		// A source with no entries yet has nothing to age: its first pages
		// start the record, and the first aging pass reads nothing. (A file
		// from before versions were kept has version 0 and entries: its
		// source has pulled before.)
		rs = RunState{Name: agingKey(source), LastRun: now, LastOK: now, Inputs: agingInputs(source, aging, before), Until: never,
			Counts: map[string]int{countOwnExpiries: 0}}
	case !found || rs.Inputs != agingInputs(source, aging, before):
		return nil
	}
	after, err := tx.Version(source)
	if err != nil || after == before {
		return err
	}
	due := rs.Until
	own := rs.Counts[countOwnExpiries]
	for i := range in {
		en := Entry{Indicator: in[i], StoredAt: now}
		due = earliest(due, dueAt(&en, aging))
		if !in[i].ExpiresAt.IsZero() {
			own++ // at most: the next full pass counts them
		}
	}
	rs.Inputs, rs.Until = agingInputs(source, aging, after), due
	if own > 0 || rs.Counts != nil {
		rs.Counts = map[string]int{countOwnExpiries: own}
	}
	return tx.PutRunState(rs)
}

// retractInactive retracts the applied, now inactive indicators of an Append
// sharing configuration whose destination implements cte.Retractor.
func (e *Engine) retractInactive(ctx context.Context, name string) (int, error) {
	_, _ = e.resolve(ctx, name, false) // an unknown target is listed by the next share
	cs, rule, src, dst, err := e.config(name)
	if err != nil {
		return 0, err
	}
	if _, ok := dst.p.(cte.Retractor); !ok || cs.target.Mode != cte.Append {
		return 0, nil
	}
	ctx, release, ok, err := e.leaseTarget(ctx, cs, "retraction of inactive indicators")
	if err != nil || !ok {
		return 0, err // not ok: audited, retracted on the next pass
	}
	defer release()
	if err := cs.share.lock(ctx); err != nil {
		return 0, err
	}
	defer cs.share.unlock()
	if err := e.bind(ctx, cs); err != nil {
		return 0, err
	}
	now := e.now()
	s := &scan{cfg: cs.cfg, target: cs.target, rule: rule, aging: src.settings.aging(), now: now, keep: true, retractOnly: true}
	var in shareRun // nothing changed since the last complete share: nothing to retract
	err = e.store.View(ctx, func(tx Tx) error {
		if err := in.check(tx, []*configState{cs}, []*CompiledRule{rule}, name, now, shareOptions{}); err != nil || in.skip {
			return err
		}
		return s.run(tx)
	})
	if in.skip {
		return 0, nil
	}
	if err != nil {
		err = fmt.Errorf("sharing %q: find indicators to retract: %w", name, err)
		e.audit(ctx, AuditEntry{Time: now, Level: slog.LevelError, Config: name, Message: err.Error(),
			Resolution: "check the store; retraction is retried on the next pass"})
		return 0, err
	}
	var rep ShareReport
	unlock, err := e.lockTarget(ctx, cs)
	if err != nil {
		return 0, err
	}
	defer unlock()
	err = e.retractItems(ctx, cs, dst, s.retract, now, &rep)
	return rep.Retracted, err
}
