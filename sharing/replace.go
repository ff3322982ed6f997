package sharing

// This file shares to Replace targets: the union of what the target's
// configurations select, packed by priority into the target's limits, pushed
// whole when it differs from what was applied.

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
)

// replaceSet is the desired content of a Replace target: the union of what its
// sharing configurations select, packed into the target's limits.
type replaceSet struct {
	target  cte.Target
	members []*scan // [0] is the configuration being shared or planned
	list    []cand  // the union in value order (members[0].cands when alone)
	sampler

	packedN, overN    int
	packedBytes       int64
	digest            string
	appliedN, removeN int // applied values of all members, and those the list drops
	overSample        []string
	// partial: a ranked read stopped judging once the list was full
	// (rankedRead); values it did not read are judged one by one when the
	// ledger names them (probe).
	partial bool
	probed  []cand // candidates probe found, until addProbed
	// probeChunk is the one-candidate chunk a probe's scan adds to (addCand
	// would make a chunk of 256 for each probe: 147 MB at 1M events)
	probeChunk []cand
	// push is the packed list as a ranked read of Share read it (nil
	// otherwise: readPacked reads it)
	push []ioc.Indicator
	last rank // the last value a ranked read read
}

// replaceSet selects, for the Replace target of cs, what cs and every other
// configuration of the same target want, and packs the union. A target fed
// by one configuration, on a store that ranks (RankedTx), is read in packing
// order and packed as it is read (rankedRead); unless complete (Plan and
// Explain, which count everything), the read stops judging once the list is
// full.
func (e *Engine) replaceSet(tx Tx, cs *configState, rule *CompiledRule, aging time.Duration, now, since time.Time, sample int, retryNow, complete bool) (*replaceSet, error) {
	rs := &replaceSet{target: cs.target, sampler: sampler{sample: sample}}
	states, rules, agings := e.replaceMembers(cs, rule, aging)
	for i, o := range states {
		rs.members = append(rs.members, &scan{cfg: o.cfg, target: cs.target, rule: rules[i], aging: agings[i], now: now, since: since, retryNow: retryNow})
	}
	if rt, ok := tx.(RankedTx); ok && len(states) == 1 {
		m := rs.members[0]
		was, err := boundElsewhere(tx, states[0])
		if err != nil {
			return nil, err
		}
		m.fresh = was != ""
		if err := rs.rankedRead(tx, rt, m, complete); err != nil {
			return nil, err
		}
		if err := rs.removals(tx, m); err != nil {
			return nil, err
		}
		rs.addProbed(m)
		return rs, nil
	}
	for i, m := range rs.members {
		// A member moved here that has not shared since: its ledger is about
		// another target. Its own next share starts it again.
		was, err := boundElsewhere(tx, states[i])
		if err != nil {
			return nil, err
		}
		m.fresh = was != ""
		if err := m.run(tx); err != nil {
			return nil, err
		}
		if i > 0 && m.rule.Rule().Muted {
			// A muted configuration adds nothing new but keeps what it has.
			m.cands = slices.DeleteFunc(m.cands, func(c cand) bool { return !c.applied })
		}
	}
	rs.union()
	rs.pack()
	if len(rs.members) > 1 {
		for _, m := range rs.members {
			j := 0
			for i := range m.cands {
				for rs.list[j].value != m.cands[i].value {
					j++
				}
				m.cands[i].packed = rs.list[j].packed
			}
		}
	}
	for _, m := range rs.members {
		if err := rs.removals(tx, m); err != nil {
			return nil, err
		}
	}
	return rs, nil
}

// union merges the members' candidates: one per value, with the highest
// severity and latest lastSeen any member gives it.
func (rs *replaceSet) union() {
	if len(rs.members) == 1 {
		rs.list = rs.members[0].cands
		return
	}
	n := 0
	for _, m := range rs.members {
		n += len(m.cands)
	}
	all := make([]cand, 0, n)
	for _, m := range rs.members {
		all = append(all, m.cands...)
	}
	slices.SortStableFunc(all, func(a, b cand) int { return strings.Compare(a.value, b.value) })
	for _, c := range all {
		if k := len(rs.list) - 1; k >= 0 && rs.list[k].value == c.value {
			l := &rs.list[k]
			l.sev, l.lastSeen, l.applied = max(l.sev, c.sev), max(l.lastSeen, c.lastSeen), l.applied || c.applied
			continue
		}
		c.prevState = 0
		rs.list = append(rs.list, c)
	}
}

// pack fills the target by priority (severity, then lastSeen, newest first, then
// value) and computes the digest of the packed list.
func (rs *replaceSet) pack() {
	// The list is in value order, so the index breaks ties by value.
	type key struct {
		sev      ioc.Severity
		lastSeen int64
		i        int32
	}
	order := make([]key, len(rs.list))
	for i := range order {
		order[i] = key{rs.list[i].sev, rs.list[i].lastSeen, int32(i)}
	}
	slices.SortFunc(order, func(a, b key) int {
		if a.sev != b.sev {
			return cmp.Compare(b.sev, a.sev)
		}
		if a.lastSeen != b.lastSeen {
			return cmp.Compare(b.lastSeen, a.lastSeen)
		}
		return cmp.Compare(a.i, b.i)
	})
	for _, k := range order {
		rs.place(&rs.list[k.i])
	}
	rs.digestPacked()
}

// place packs c when it fits what the list holds so far, or counts it over
// capacity; candidates are placed in priority order.
func (rs *replaceSet) place(c *cand) {
	lim := rs.target.Limits
	n := listBytes(c.value)
	if (lim.MaxItems > 0 && rs.packedN >= lim.MaxItems) || (lim.MaxBytes > 0 && rs.packedBytes+n > lim.MaxBytes) {
		rs.overN++
		if len(rs.overSample) < 5 {
			rs.overSample = append(rs.overSample, c.value)
		}
		rs.addSample(c.value, c.typ, "over capacity")
		return
	}
	c.packed = true
	rs.packedN++
	rs.packedBytes += n
	if !c.applied {
		rs.addSample(c.value, c.typ, "new")
	}
}

// digestPacked computes the digest of the packed values of the list (in
// value order).
func (rs *replaceSet) digestPacked() {
	h := sha256.New()
	var buf []byte
	for i := range rs.list {
		if rs.list[i].packed {
			buf = append(append(buf[:0], rs.list[i].value...), '\n')
			h.Write(buf)
		}
	}
	rs.digest = hex.EncodeToString(h.Sum(nil))
}

// removals finds the values m has applied that the packed list leaves out, and
// those m no longer selects at all (its retractVals).
func (rs *replaceSet) removals(tx Tx, m *scan) error {
	if m.fresh {
		return nil
	}
	j, k := 0, 0
	return tx.LedgerEntries(m.cfg.Name, func(le *LedgerEntry) error {
		if le.State != StateApplied {
			if rs.partial && le.State != StateOverCapacity && !rs.holds(le.Value) {
				// over capacity now if still selected (see overEntries)
				_, err := rs.probe(tx, m, le.Value)
				return err
			}
			return nil
		}
		rs.appliedN++
		for j < len(rs.list) && rs.list[j].value < le.Value {
			j++
		}
		if j >= len(rs.list) || rs.list[j].value != le.Value || !rs.list[j].packed {
			if rs.partial && (j >= len(rs.list) || rs.list[j].value != le.Value) {
				// not read: a candidate is over capacity (the list was full
				// before it), else it leaves as below
				if found, err := rs.probe(tx, m, le.Value); err != nil || found {
					rs.removeN++
					return err
				}
			}
			// The guardrail guards against surprises (a rule edit, a source that
			// lost its data); values leaving because they aged out or expired are
			// the lifecycle working, so they do not count against it.
			aged, err := agedOut(tx, m, le.Value)
			if err != nil {
				return err
			}
			if !aged {
				rs.removeN++
			}
		}
		for k < len(m.cands) && m.cands[k].value < le.Value {
			k++
		}
		if k < len(m.cands) && m.cands[k].value == le.Value {
			return nil
		}
		m.retractVals = append(m.retractVals, *le)
		rs.addSample(le.Value, le.Type, "retract")
		return nil
	})
}

// agedOut reports whether the member's source entry of value is inactive or past
// its expiry or aging, so the value leaves the list through the lifecycle.
func agedOut(tx Tx, m *scan, value string) (bool, error) {
	if m.marks.excluded(value) {
		return true, nil // the operator took it out
	}
	r, ok, err := tx.Record(value)
	if err != nil || !ok {
		return false, err
	}
	en, ok := r.Entry(m.cfg.Source)
	return ok && (en.Inactive || expired(en, m.aging, m.now)), nil
}

// counts returns what the list means for one member: its values new to the
// target, already applied, and left out.
func (m *scan) listCounts() (fresh, kept, over int) {
	over = m.overRaw // read or not, each would be over capacity (an upper bound)
	for i := range m.cands {
		switch c := &m.cands[i]; {
		case c.probed: // counted in overRaw
		case !c.packed:
			over++
		case c.applied:
			kept++
		default:
			fresh++
		}
	}
	return fresh, kept, over
}

// digestOf returns the digest of sorted values, as pack computes it.
func digestOf(sorted []string) string {
	h := sha256.New()
	var buf []byte
	for _, v := range sorted {
		buf = append(append(buf[:0], v...), '\n')
		h.Write(buf)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// shareReplace pushes the packed list of rs when it differs from what was
// applied, and collects in w the outcome for every member and its audit
// entries, for report to write. The caller holds the target lock.
func (e *Engine) shareReplace(ctx context.Context, cs *configState, dst *pluginState, rs *replaceSet, force bool, rep *ShareReport, w *shareWrites) error {
	own := rs.members[0]
	now := own.now
	name := cs.cfg.Name
	_, rep.Unchanged, rep.OverCapacity = own.listCounts()
	auditOverCapacity(cs, rs, now, w)
	var applied AppliedSet
	var haveApplied bool
	err := e.store.View(ctx, func(tx Tx) error {
		var err error
		applied, haveApplied, err = tx.AppliedSet(name)
		haveApplied = haveApplied && applied.Digest != ""
		return err
	})
	if err != nil {
		return w.auditErr(name, now, fmt.Errorf("sharing %q: read applied set: %w", name, err),
			"check the store; the share is retried on the next cycle")
	}
	if !rs.differs(applied, haveApplied) {
		recordUnchanged(rs, now, w)
		return nil
	}
	rep.Unchanged = 0
	if !force && e.guardrailHit(rs) {
		err := fmt.Errorf("sharing %q: %w: it would remove %d of the %d values %s %s holds (more than %.0f%%)",
			name, ErrGuardrail, rs.removeN, rs.appliedN, cs.cfg.Destination, cs.target.ID, e.guardShare*100)
		w.audit(AuditEntry{Time: now, Level: slog.LevelError, Config: name, Message: err.Error(),
			Details:    details("applied", rs.appliedN, "removed", rs.removeN, "packed", rs.packedN),
			Resolution: "check the source and the rule; if the removal is intended, share again with force"})
		return err
	}
	if until := e.pushWait(cs.cfg.Destination, cs.target.ID); now.Before(until) {
		rep.Retrying = rs.packedN
		rep.reason(reasonRateLimited)
		return nil
	}
	push, skipped, err := rs.push, map[string]bool{}, error(nil)
	if push == nil {
		push, skipped, err = e.readPacked(ctx, rs)
	}
	if err != nil {
		return w.auditErr(name, now, fmt.Errorf("sharing %q: read packed indicators: %w", name, err),
			"check the store; the share is retried on the next cycle")
	}
	slices.SortFunc(push, func(a, b ioc.Indicator) int { return priority(&a, &b) })
	res, perr := dst.p.Push(ctx, cs.target, push)
	rep.Sent = len(push)
	if perr != nil {
		if wait := serverWait(perr); wait > 0 {
			e.holdPushes(cs.cfg.Destination, cs.target.ID, now.Add(wait))
		}
		perr = fmt.Errorf("sharing %q: push to %s %s: %w", name, cs.cfg.Destination, cs.target.ID, perr)
		rep.Retrying = len(push)
		rep.reason("push failed")
		w.audit(AuditEntry{Time: now, Level: errorLevel(perr), Config: name, Message: perr.Error(),
			Details:    details("list size", len(push)),
			Resolution: resolution(perr, cs.cfg.Destination) + "; the list on the target is unchanged"})
		return perr
	}
	e.recordPushed(cs, rs, skipped, res, ctx.Err() != nil, rep, w)
	return nil
}

// differs reports whether the packed list is not what the target was last
// given, so Share (and Plan, to say it would) pushes it.
func (rs *replaceSet) differs(applied AppliedSet, haveApplied bool) bool {
	return haveApplied && applied.Digest != rs.digest || !haveApplied && (rs.packedN > 0 || rs.appliedN > 0)
}

// guardrailHit is the one guardrail check of Share and Plan: pushing rs would
// remove, for reasons other than aging or expiry, more of the applied list
// than WithGuardrail allows.
func (e *Engine) guardrailHit(rs *replaceSet) bool {
	return e.guardShare < 1 && rs.appliedN >= e.guardMin && float64(rs.removeN) > e.guardShare*float64(rs.appliedN)
}

// auditOverCapacity warns that the list leaves values out.
func auditOverCapacity(cs *configState, rs *replaceSet, now time.Time, w *shareWrites) {
	if rs.overN == 0 {
		return
	}
	msg := fmt.Sprintf("%d indicator(s) do not fit %s %s and are left out", rs.overN, cs.cfg.Destination, cs.target.ID)
	if raw := rs.members[0].overRaw; raw > 0 {
		msg = fmt.Sprintf("up to %d indicator(s) do not fit %s %s and are left out (%d of them not read once the list was full, counted as if the rule matched them)",
			rs.overN, cs.cfg.Destination, cs.target.ID, raw)
	}
	w.audit(AuditEntry{Time: now, Level: slog.LevelWarn, Config: cs.cfg.Name,
		Message: msg,
		Details: details("packed", rs.packedN, "bytes", rs.packedBytes, "max items", cs.target.Limits.MaxItems,
			"max bytes", cs.target.Limits.MaxBytes, "examples", strings.Join(rs.overSample, ", ")),
		Resolution: "the highest severity and most recently seen indicators are kept; raise the target's limits or narrow the rule to share the rest"})
}

// overEntries records, for a member, what the list leaves out that its
// ledger shows in another state (applied before, retracted, refused). A value
// that never had an entry gets none: the list never held it, and Plan,
// Explain and the sharing table compute what does not fit from the packing,
// so a large source over a small list writes no entry per value left out.
func overEntries(m *scan, now time.Time) []LedgerEntry {
	var out []LedgerEntry
	for i := range m.cands {
		c := &m.cands[i]
		if !c.packed && c.prevState != 0 && c.prevState != StateOverCapacity {
			out = append(out, LedgerEntry{Value: c.value, Type: c.typ, State: StateOverCapacity, Fingerprint: c.fp,
				Reason: cte.ReasonOverCapacity, At: now})
		}
	}
	return out
}

// recordUnchanged records, when the list is what the target has, what it
// leaves out.
func recordUnchanged(rs *replaceSet, now time.Time, w *shareWrites) {
	for _, m := range rs.members {
		if m.fresh {
			continue
		}
		name, entries := m.cfg.Name, overEntries(m, now)
		w.write(func(tx Tx) error { return tx.PutLedger(name, entries) })
	}
}

// readPacked reads the packed indicators whole, each from the first member
// that selects it; skipped holds those changed since the scan (the next
// share settles them).
func (e *Engine) readPacked(ctx context.Context, rs *replaceSet) (push []ioc.Indicator, skipped map[string]bool, err error) {
	skipped = map[string]bool{}
	err = e.store.View(ctx, func(tx Tx) error {
		for i := range rs.list {
			c := &rs.list[i]
			if !c.packed {
				continue
			}
			r, ok, err := tx.Record(c.value)
			if err != nil {
				return err
			}
			var en *Entry
			for _, m := range rs.members {
				if x, ok2 := r.Entry(m.cfg.Source); ok && ok2 && !x.Inactive {
					en = x
					break
				}
			}
			if en == nil {
				skipped[c.value] = true
				continue
			}
			push = append(push, cloneIndicator(&en.Indicator))
		}
		return nil
	})
	return push, skipped, err
}

// recordPushed collects in w what a pushed list records: for every member
// its ledger (applied, refused, over capacity, retracted) and the applied
// set. The entries are made here, once, and counted into rep: the write may
// run twice (commit writes the outcome again when its audit entries fail).
func (e *Engine) recordPushed(cs *configState, rs *replaceSet, skipped map[string]bool, res cte.PushResult, stopped bool, rep *ShareReport, w *shareWrites) {
	now := rs.members[0].now
	rej := make(map[string]cte.Rejected, len(res.Rejected))
	for _, r := range res.Rejected {
		rej[r.Value] = r
	}
	// What was pushed is the list's packed values but those changed since
	// the read (skipped): taken from the list, they come in value order.
	kept := make([]string, 0, rs.packedN)
	for i := range rs.list {
		c := &rs.list[i]
		if !c.packed || skipped[c.value] {
			continue
		}
		if _, ok := rej[c.value]; !ok {
			kept = append(kept, c.value)
		}
	}
	digest := rs.digest // of every packed value: what was pushed unless some were skipped or refused
	if len(kept) != rs.packedN {
		digest = digestOf(kept)
	}
	set := AppliedSet{Digest: digest, Count: len(kept), At: now, Target: cs.cfg.Destination + " " + cs.target.ID}
	for _, r := range res.Rejected {
		rep.reason(r.Reason)
	}
	rep.Pushed = true
	for mi, m := range rs.members {
		if m.fresh {
			continue // recorded when it shares: its ledger starts again then
		}
		var r *ShareReport // the counts are the sharing configuration's own
		if mi == 0 {
			r = rep
		}
		name, entries := m.cfg.Name, e.memberEntries(m, rej, skipped, now, stopped, r)
		w.write(func(tx Tx) error {
			if err := tx.PutLedger(name, entries); err != nil {
				return err
			}
			return tx.PutAppliedSet(name, set)
		})
	}
}

// memberEntries returns the ledger entries of one member after a push, and
// counts them into rep when it is the configuration shared (else nil).
func (e *Engine) memberEntries(m *scan, rej map[string]cte.Rejected, skipped map[string]bool, now time.Time, stopped bool, rep *ShareReport) []LedgerEntry {
	entries := slices.Grow(overEntries(m, now), len(m.cands)+len(m.retractVals))
	for i := range m.cands {
		c := &m.cands[i]
		if !c.packed || skipped[c.value] {
			continue
		}
		if r, ok := rej[c.value]; ok {
			// The product counting its limits differently from the
			// target's Limits reports over capacity: left out with a
			// growing delay, so the list is not pushed every cycle.
			prev := c.prevEntry()
			if prev != nil && prev.State == StateApplied {
				prev = nil // the new list does not hold it: not an Append update
			}
			it := item{ind: ioc.Indicator{Type: c.typ, Value: c.value}, fp: c.fp, prev: prev}
			// A stopped push is no failed attempt (see outcome).
			entries = append(entries, e.failed(&it, now, r.Retryable || r.Reason == cte.ReasonOverCapacity, r.Reason, r.Code, !(stopped && r.Retryable)))
			if rep != nil {
				rep.countRefused(r)
			}
			continue
		}
		if rep != nil {
			if c.applied {
				rep.Unchanged++
			} else {
				rep.Applied++
			}
		}
		if c.applied && c.prevFP == c.fp {
			continue
		}
		entries = append(entries, LedgerEntry{Value: c.value, Type: c.typ, State: StateApplied, Fingerprint: c.fp, At: now})
	}
	for _, le := range m.retractVals {
		entries = append(entries, LedgerEntry{Value: le.Value, Type: le.Type, State: StateRetracted, Fingerprint: le.Fingerprint, At: now})
		if rep != nil {
			rep.Retracted++
		}
	}
	return entries
}
