package sharing

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
)

// TypeCount is how many indicators of one type, and their size as a list
// (each value and its comma).
type TypeCount struct {
	Count int
	Bytes int64
}

// PlanItem is one value of a plan's sample and what Share would do with it:
// "new", "changed", "retry", "over capacity" or "retract".
type PlanItem struct {
	Value  string
	Type   ioc.Type
	Action string
}

// PlanReport is what Share would do now, computed without side effects.
type PlanReport struct {
	Config      string
	Destination string
	Target      string
	Mode        cte.Mode
	Window      time.Duration // 0: every stored indicator; else only those fetched within it
	Muted       bool          // the rule is muted: Share would do nothing (the counts say what it would do unmuted)

	Matched int                    // active indicators of the source that match the rule and the target takes
	ByType  map[ioc.Type]TypeCount // of Matched
	Bytes   int64                  // Replace: size of the packed list (of every configuration of the target)

	New          int  // Append: never applied; Replace: packed, not in the applied list
	Changed      int  // Append: applied or rejected before with other contents
	Retry        int  // Append: retryable and due
	Unchanged    int  // Append: applied as they are; Replace: packed and already applied
	Rejected     int  // rejected for good, left out until they change
	Waiting      int  // retryable, not due yet
	OverCapacity int  // Replace: matching but left out of the full list
	ToRetract    int  // Append: applied and now inactive; Replace: applied and no longer wanted (window 0 only)
	WouldPush    bool // Replace: the packed list differs from the applied one (window 0 only)
	Guardrail    bool // Replace: the push would be refused by the guardrail without force (window 0 only)

	Excluded map[string]int // left out before the rule: never-share values, loops, types the target refuses
	Sample   []PlanItem     // up to 10 values that would change
}

// planSample is how many PlanItems a plan keeps.
const planSample = 10

// Plan is a dry run of Share for a sharing configuration ("Test" in a UI): it
// reads the store, never pushes and writes nothing but, the first time, the
// target it asks the destination for (GetTargets) when no share or CheckTarget
// listed it before; the target kept in the store lets it run offline. A non-zero window
// restricts it to the indicators fetched within that window before now.
func (e *Engine) Plan(ctx context.Context, name string, window time.Duration) (PlanReport, error) {
	if cs, err := e.resolve(ctx, name, false); err != nil || !cs.known {
		// never listed yet: ask the destination once
		if _, err := e.resolve(ctx, name, true); err != nil {
			return PlanReport{Config: name}, err
		}
	}
	cs, rule, src, _, err := e.config(name)
	if err != nil {
		return PlanReport{Config: name}, err
	}
	now := e.now()
	var since time.Time
	if window > 0 {
		since = now.Add(-window)
	}
	s := &scan{cfg: cs.cfg, target: cs.target, rule: rule, aging: src.settings.aging(), now: now, since: since, sampler: sampler{sample: planSample}}
	var rs *replaceSet
	var applied AppliedSet
	var haveApplied bool
	err = e.store.View(ctx, func(tx Tx) error {
		if cs.target.Mode == cte.Append {
			// A moved configuration starts its ledger again on its next share.
			was, err := boundElsewhere(tx, cs)
			if err != nil {
				return err
			}
			s.fresh = was != ""
			return s.run(tx)
		}
		var err error
		if rs, err = e.replaceSet(tx, cs, rule, src.settings.aging(), now, since, planSample, false, true); err != nil {
			return err
		}
		s = rs.members[0]
		s.samples = rs.samples
		applied, haveApplied, err = tx.AppliedSet(name)
		haveApplied = haveApplied && applied.Digest != "" && !s.fresh
		return err
	})
	if err != nil {
		return PlanReport{Config: name}, fmt.Errorf("sharing %q: plan: %w", name, err)
	}
	p := PlanReport{
		Config: name, Destination: cs.cfg.Destination, Target: cs.target.ID, Mode: cs.target.Mode, Window: window,
		Muted: rule.Rule().Muted, Matched: s.matched, ByType: s.byType, Excluded: s.excluded, Sample: s.samples,
		Rejected: s.counts[actRejected], Waiting: s.counts[actWaiting],
	}
	if cs.target.Mode == cte.Append {
		p.New, p.Changed, p.Retry = s.counts[actNew], s.counts[actChanged], s.counts[actRetry]
		p.Unchanged, p.ToRetract = s.counts[actUnchanged], s.toRetrct
		return p, nil
	}
	p.Bytes = rs.packedBytes
	p.New, p.Unchanged, p.OverCapacity = s.listCounts()
	if window == 0 {
		p.ToRetract = len(s.retractVals)
		p.WouldPush = rs.differs(applied, haveApplied)
		p.Guardrail = p.WouldPush && e.guardrailHit(rs)
	}
	return p, nil
}

// overCapacity reports whether a Replace list leaves value out. Without a
// ledger entry saying so (a value never on the list has none), the list is
// packed as Share would pack it: a full read of the source, fine for one
// operator question.
func (e *Engine) overCapacity(tx Tx, cs *configState, rule *CompiledRule, le *LedgerEntry, value string, now time.Time) (bool, error) {
	switch {
	case cs.target.Mode != cte.Replace:
		return false, nil
	case le != nil:
		return le.State == StateOverCapacity, nil
	}
	aging := DefaultAging
	if p, err := e.plugin(cs.cfg.Source); err == nil {
		aging = p.settings.aging()
	}
	rs, err := e.replaceSet(tx, cs, rule, aging, now, time.Time{}, 0, false, true)
	if err != nil {
		return false, err
	}
	i, found := slices.BinarySearchFunc(rs.list, value, func(c cand, v string) int { return strings.Compare(c.value, v) })
	return found && !rs.list[i].packed, nil
}

// Explanation says where a value came from and, for each sharing configuration,
// whether it would be shared and why.
type Explanation struct {
	Value   string // normalised when the type could be detected
	Type    ioc.Type
	Found   bool  // stored at all
	Mark    *Mark // the operator took it out of sharing
	Sources []SourceState
	Sharing []SharingDecision
}

// SourceState is one source's entry of a value.
type SourceState struct {
	Source   string
	Active   bool
	Why      string // why it is inactive
	Severity ioc.Severity
	LastSeen time.Time
	Tags     []string
}

// SharingDecision is what one sharing configuration does with a value.
type SharingDecision struct {
	Config      string
	Destination string
	Target      string
	Shared      bool         // it matches: the target has it, or will on the next share
	Why         string       // the check, clause or exception that decided
	Ledger      *LedgerEntry // what the configuration did with it last; nil if nothing
}

// Explain says, for a value, which sources reported it and whether each sharing
// configuration shares it: the check, rule clause or exception that decided, and
// its ledger state. It has no side effects.
func (e *Engine) Explain(ctx context.Context, value string) (Explanation, error) {
	ex := Explanation{Value: strings.TrimSpace(value)}
	if t, ok := ioc.Detect(ex.Value); ok {
		if v, err := ioc.Parse(t, ex.Value); err == nil {
			ex.Value, ex.Type = v, t
		}
	}
	now := e.now()
	names := e.Configs()
	for _, c := range names {
		_, _ = e.resolve(ctx, c.Name, false) // the stored target, if any; decide says when it is unknown
	}
	err := e.store.View(ctx, func(tx Tx) error {
		marks, err := loadMarks(tx)
		if err != nil {
			return err
		}
		if m, ok := marks[ex.Value]; ok {
			ex.Mark = &m
		}
		r, ok, err := tx.Record(ex.Value)
		if err != nil || !ok {
			return err
		}
		ex.Found, ex.Type = true, r.Type
		for i := range r.Entries {
			en := &r.Entries[i]
			st := SourceState{Source: en.Source, Active: true, Severity: en.Severity, LastSeen: en.LastSeen, Tags: en.Tags}
			if why := e.inactiveWhy(en, now); why != "" {
				st.Active, st.Why = false, why
			}
			ex.Sources = append(ex.Sources, st)
		}
		for _, c := range names {
			d, err := e.decide(tx, &r, ex.Mark, c.Name, now)
			if err != nil {
				return err
			}
			ex.Sharing = append(ex.Sharing, d)
		}
		return nil
	})
	if err != nil {
		return ex, fmt.Errorf("sharing: explain %q: %w", clipValue(value), err)
	}
	return ex, nil
}

func clipValue(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

func (e *Engine) inactiveWhy(en *Entry, now time.Time) string {
	if en.Inactive {
		return "inactive since " + en.InactiveAt.UTC().Format(time.RFC3339)
	}
	aging := DefaultAging
	if p, err := e.plugin(en.Source); err == nil {
		aging = p.settings.aging()
	}
	if expired(en, aging, now) {
		if ownExpiry(en) && !now.Before(en.ExpiresAt) {
			return "expired at " + en.ExpiresAt.UTC().Format(time.RFC3339)
		}
		return fmt.Sprintf("not seen for more than the aging period (%s)", aging)
	}
	return ""
}

// decide says whether configuration name shares r and why; mark is r's mark
// (nil when the operator did not take r out of sharing).
func (e *Engine) decide(tx Tx, r *Record, mark *Mark, name string, now time.Time) (SharingDecision, error) {
	cs, rule, _, _, err := e.config(name)
	if err != nil {
		return SharingDecision{Config: name, Why: err.Error()}, nil
	}
	c := cs.cfg
	d := SharingDecision{Config: c.Name, Destination: c.Destination, Target: cs.target.ID}
	le, ok, err := tx.Ledger(c.Name, r.Value)
	if err != nil {
		return d, err
	}
	was, err := boundElsewhere(tx, cs)
	if err != nil {
		return d, err
	}
	if ok && was == "" { // a moved configuration's ledger is about its old target
		d.Ledger = &le
	}
	if mark != nil {
		d.Why = markedWhy(mark)
		return d, nil
	}
	en, ok := r.Entry(c.Source)
	switch {
	case !cs.known:
		d.Why = fmt.Sprintf("target %q of %q not listed yet (it is on the first share or validate)", c.Target, c.Destination)
		return d, nil
	case !ok:
		d.Why = fmt.Sprintf("not reported by source %q", c.Source)
		return d, nil
	case e.inactiveWhy(en, now) != "":
		d.Why = "inactive at the source: " + e.inactiveWhy(en, now)
		return d, nil
	}
	// The same predicate as Share; the rule's explanation says why it matched.
	switch excl, _ := selects(c, cs.target, rule, r, en, now); excl {
	case exclNeverShare:
		d.Why = "never shared: an empty-file hash or the placeholder value"
		return d, nil
	case exclType:
		d.Why = fmt.Sprintf("target %q does not accept %s", cs.target.ID, en.Type)
		return d, nil
	case exclLoop:
		d.Why = fmt.Sprintf("also reported by the destination %q: never pushed back to a product it came from", c.Destination)
		return d, nil
	}
	matched, why := rule.Explain(&en.Indicator, now)
	d.Why = fmt.Sprintf("rule %q: %s", c.Rule, why)
	if !matched {
		return d, nil
	}
	if rule.Rule().Muted {
		d.Why += " (but the rule is muted)"
		return d, nil
	}
	d.Shared = true
	switch a := decide(d.Ledger, fingerprint(&en.Indicator), now); a {
	case actRejected:
		d.Shared = false
		d.Why += "; rejected by the target: " + d.Ledger.Reason + " (not retried until it changes)"
	case actWaiting:
		d.Why += fmt.Sprintf("; retryable, next attempt at %s", d.Ledger.NextAttempt.UTC().Format(time.RFC3339))
	default:
		over, err := e.overCapacity(tx, cs, rule, d.Ledger, r.Value, now)
		if err != nil {
			return d, err
		}
		if over {
			d.Shared = false
			d.Why += "; left out of the full target (over capacity)"
		} else {
			d.Why += "; ledger: " + a.String()
		}
	}
	return d, nil
}
