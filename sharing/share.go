package sharing

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
)

// ErrGuardrail is returned by Share when a Replace push would remove more of the
// applied list than the guardrail allows (see WithGuardrail). Share again with
// WithForce if the removal is intended.
var ErrGuardrail = errors.New("sharing: guardrail: push would remove too much of the applied list")

// ShareOption changes one Share call.
type ShareOption func(*shareOptions)

type shareOptions struct{ force, replay bool }

// WithForce lets a Replace push through the guardrail.
func WithForce() ShareOption { return func(o *shareOptions) { o.force = true } }

// WithReplay sends again everything the configuration selects, as if it had never
// shared: its ledger starts again (the entries are recorded retracted, reason
// "replay requested") and a Replace list is pushed whole. Use it when a product
// lost what it was given, instead of editing checkpoints or re-creating the
// configuration. The guardrail does not apply, as nothing counts as applied.
func WithReplay() ShareOption { return func(o *shareOptions) { o.replay = true } }

// ShareReport says what one Share did.
type ShareReport struct {
	Config       string
	Mode         cte.Mode
	Muted        bool           // the rule is muted: nothing was shared
	Matched      int            // active indicators of the source that match and the target takes
	Sent         int            // indicators given to Push
	Applied      int            // newly applied for this configuration (new, changed, or retried)
	Unchanged    int            // already applied (Append: as they are, so not sent again)
	Rejected     int            // refused for good (this run, or earlier with the same fingerprint)
	Retrying     int            // refused or not sent this run; retried on a later cycle
	Waiting      int            // retryable, not due yet
	OverCapacity int            // left out of a full target (Append: retried with the growing delay)
	Retracted    int            // removed from the target
	Pushed       bool           // a Replace target was given a new list
	Reasons      map[string]int // rejections and deferrals by reason
}

func (r *ShareReport) reason(s string) {
	if r.Reasons == nil {
		r.Reasons = map[string]int{}
	}
	r.Reasons[s]++
}

// action is what a share does with one matching indicator given its ledger entry.
type action uint8

const (
	actNew       action = iota + 1 // never applied, or retracted / over capacity before
	actChanged                     // applied or rejected with another fingerprint
	actRetry                       // retryable and due
	actUnchanged                   // applied with this fingerprint
	actRejected                    // rejected for good with this fingerprint
	actWaiting                     // retryable, not due yet
)

var actionNames = [...]string{"", "new", "changed", "retry", "unchanged", "rejected", "waiting"}

func (a action) String() string { return actionNames[a] }

func (a action) sends() bool { return a == actNew || a == actChanged || a == actRetry }

// decide returns what to do with a matching indicator of fingerprint fp.
func decide(prev *LedgerEntry, fp uint64, now time.Time) action {
	if prev == nil {
		return actNew
	}
	switch prev.State {
	case StateApplied:
		switch {
		case prev.Fingerprint != fp:
			return actChanged
		case prev.Reason == "":
			return actUnchanged
		case prev.NextAttempt.IsZero(): // this version was refused for good
			return actRejected
		case !now.Before(prev.NextAttempt): // this version was refused for now
			return actRetry
		}
		return actWaiting
	case StateRejected:
		if prev.Fingerprint == fp {
			return actRejected
		}
		return actChanged
	case StateRetryable:
		switch {
		case prev.Fingerprint != fp:
			return actChanged
		case !now.Before(prev.NextAttempt):
			return actRetry
		}
		return actWaiting
	}
	return actNew
}

// fingerprint hashes what a push sends of an indicator: type, value, severity,
// comments and tags. LastSeen, FirstSeen and ExpiresAt are left out so that a
// re-report of the same indicator is not sent again.
func fingerprint(ind *ioc.Indicator) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	b := func(c byte) { h = (h ^ uint64(c)) * prime }
	s := func(v string) {
		for i := 0; i < len(v); i++ {
			b(v[i])
		}
		b(0xff)
	}
	b(byte(ind.Type))
	s(ind.Value)
	b(byte(ind.Severity))
	s(ind.Comments)
	tags := ind.Tags
	if !slices.IsSorted(tags) {
		tags = slices.Sorted(slices.Values(tags))
	}
	for _, t := range tags {
		s(t)
	}
	return h
}

// expired reports whether an entry is past its own expiry or its source's aging.
func expired(en *Entry, aging time.Duration, now time.Time) bool {
	if ownExpiry(en) && !now.Before(en.ExpiresAt) {
		return true
	}
	last := en.LastSeen
	if last.IsZero() {
		last = en.StoredAt
	}
	return !last.IsZero() && now.Sub(last) > aging
}

// ownExpiry reports whether the entry's own ExpiresAt applies. Merging keeps the
// latest ExpiresAt, so a re-report without one keeps an expiry that passed before
// the value was seen again; that sighting makes it active again (the aging period
// then runs from it), so such an expiry no longer applies.
func ownExpiry(en *Entry) bool {
	return !en.ExpiresAt.IsZero() && !en.LastSeen.After(en.ExpiresAt)
}

// neverShare is ioc.NeverShare with a cheap first test: the never-share values are
// hashes starting with d, e or f.
func neverShare(t ioc.Type, v string) bool {
	return t.IsHash() && v != "" && v[0] >= 'd' && v[0] <= 'f' && ioc.NeverShare(v)
}

// listBytes is what a value costs in a list as products count it: the value and
// its comma.
func listBytes(value string) int64 { return int64(len(value)) + 1 }

// Exclusion reasons counted by Plan and Explain.
const (
	exclNeverShare = "never share"
	exclLoop       = "came from the destination"
	exclType       = "type not accepted by the target"
	exclMarked     = "marked safe or deleted"
)

const reasonCannotRetract = "inactive, destination cannot retract"

// reasonRateLimited counts what was held back because the product asked to wait.
const reasonRateLimited = "held: the product asked to wait"

// item is an indicator on its way to a target with its previous ledger entry.
type item struct {
	ind  ioc.Indicator
	fp   uint64
	prev *LedgerEntry
	act  action
}

// cand is a matching indicator competing for a Replace target.
type cand struct {
	value    string
	typ      ioc.Type
	sev      ioc.Severity
	applied  bool // the ledger shows it applied
	packed   bool
	lastSeen int64
	fp       uint64
	// Of its ledger entry (state 0: none); kept inline, not as a pointer, so a
	// large list costs no allocation per value.
	prevState    LedgerState
	prevAttempts int32
	prevFP       uint64
}

// prevEntry returns the parts of c's ledger entry that failed needs, or nil.
func (c *cand) prevEntry() *LedgerEntry {
	if c.prevState == 0 {
		return nil
	}
	return &LedgerEntry{State: c.prevState, Attempts: int(c.prevAttempts), Fingerprint: c.prevFP}
}

// scan is one pass of a sharing configuration over the store.
type scan struct {
	cfg    Config
	target cte.Target
	rule   *CompiledRule
	aging  time.Duration
	now    time.Time
	since  time.Time // only entries stored since (Plan's window); zero for all
	keep   bool      // keep the indicators to send and retract (Share), not only count them (Plan)
	sample int       // how many PlanItems to keep
	// retractOnly looks for applied inactive indicators only (Append).
	retractOnly bool
	// fresh ignores the ledger: it is about another target (Plan of a moved
	// configuration that has not shared since).
	fresh bool

	matched  int
	counts   [len(actionNames)]int
	types    [8]TypeCount // by ioc.Type
	byType   map[ioc.Type]TypeCount
	excluded map[string]int
	send     []item        // Append, keep: to push
	retract  []item        // Append, keep: applied but inactive now
	settled  []LedgerEntry // Append, keep: retryable but inactive now
	toRetrct int
	cands    []cand   // Replace: in value order
	chunks   [][]cand // cands while scanning, to avoid regrowing one huge slice
	samples  []PlanItem

	retractVals []LedgerEntry // Replace: applied, no longer selected by this configuration
	marks       markSet       // values an operator took out of sharing (actions.go)

	until time.Time // the earliest expiry or retry of what the scan selected; zero for never
}

func (s *scan) addSample(value string, t ioc.Type, what string) {
	if len(s.samples) < s.sample {
		s.samples = append(s.samples, PlanItem{Value: value, Type: t, Action: what})
	}
}

// run scans the records of the store in tx.
func (s *scan) run(tx Tx) error {
	s.excluded = map[string]int{}
	appendMode := s.target.Mode == cte.Append
	var err error
	if s.marks, err = loadMarks(tx); err != nil {
		return err
	}
	defer func() {
		s.byType = map[ioc.Type]TypeCount{}
		for t, c := range s.types {
			if c.Count > 0 {
				s.byType[ioc.Type(t)] = c
			}
		}
	}()
	err = tx.Records(func(r *Record) error {
		en, ok := r.Entry(s.cfg.Source)
		if !ok || (!s.since.IsZero() && en.StoredAt.Before(s.since)) {
			return nil
		}
		if s.marks.excluded(r.Value) { // retracted by retractMarked
			s.excluded[exclMarked]++
			return nil
		}
		if en.Inactive || expired(en, s.aging, s.now) {
			if !appendMode {
				return nil
			}
			var le LedgerEntry
			var ok bool
			var err error
			if !s.fresh {
				if le, ok, err = tx.Ledger(s.cfg.Name, r.Value); err != nil {
					return err
				}
			}
			if ok && le.State == StateApplied {
				s.toRetrct++
				s.addSample(r.Value, en.Type, "retract")
				if s.keep {
					cp := le
					s.retract = append(s.retract, item{ind: cloneIndicator(&en.Indicator), fp: le.Fingerprint, prev: &cp})
				}
			}
			if ok && le.State == StateRetryable && s.keep {
				// Never reached the target and never will: not waiting any more.
				s.settled = append(s.settled, LedgerEntry{Value: r.Value, Type: en.Type, State: StateRetracted,
					Fingerprint: le.Fingerprint, Reason: "inactive before it could be shared", At: s.now})
			}
			return nil
		}
		if s.retractOnly {
			return nil
		}
		// The value's bytes are touched last: on a large store they are the cache
		// misses.
		if !s.target.Accepts(en.Type) {
			s.excluded[exclType]++
			return nil
		}
		if _, loop := r.Entry(s.cfg.Destination); loop {
			s.excluded[exclLoop]++
			return nil
		}
		if !s.rule.Match(&en.Indicator, s.now) {
			return nil
		}
		if neverShare(en.Type, r.Value) {
			s.excluded[exclNeverShare]++
			return nil
		}
		s.matched++
		if int(en.Type) < len(s.types) {
			s.types[en.Type].Count++
			s.types[en.Type].Bytes += listBytes(r.Value)
		}
		fp := fingerprint(&en.Indicator)
		var le LedgerEntry
		var has bool
		if !s.fresh { // else its ledger is about another target
			var err error
			if le, has, err = tx.Ledger(s.cfg.Name, r.Value); err != nil {
				return err
			}
		}
		var act action
		if has {
			act = decide(&le, fp, s.now)
		} else {
			act = decide(nil, fp, s.now)
		}
		s.counts[act]++
		s.until = earliest(s.until, dueAt(en, s.aging))
		if act == actWaiting {
			s.until = earliest(s.until, le.NextAttempt)
		}
		if appendMode {
			if act.sends() {
				s.addSample(r.Value, en.Type, act.String())
				if s.keep {
					var prev *LedgerEntry
					if has {
						cp := le
						prev = &cp
					}
					s.send = append(s.send, item{ind: cloneIndicator(&en.Indicator), fp: fp, prev: prev, act: act})
				}
			}
			return nil
		}
		if act == actRejected || act == actWaiting {
			return nil
		}
		c := cand{value: r.Value, typ: en.Type, sev: en.Severity, lastSeen: en.LastSeen.UnixNano(), fp: fp,
			applied: has && le.State == StateApplied}
		if has {
			c.prevState, c.prevAttempts, c.prevFP = le.State, int32(min(le.Attempts, 1<<30)), le.Fingerprint
		}
		if n := len(s.chunks); n == 0 || len(s.chunks[n-1]) == cap(s.chunks[n-1]) {
			s.chunks = append(s.chunks, make([]cand, 0, 1<<15))
		}
		last := &s.chunks[len(s.chunks)-1]
		*last = append(*last, c)
		return nil
	})
	if err == nil && appendMode {
		err = s.retractMarked(tx)
	}
	if err != nil || appendMode {
		return err
	}
	n := 0
	for _, c := range s.chunks {
		n += len(c)
	}
	s.cands = make([]cand, 0, n)
	for _, c := range s.chunks {
		s.cands = append(s.cands, c...)
	}
	s.chunks = nil
	return nil
}

// replaceSet is the desired content of a Replace target: the union of what its
// sharing configurations select, packed into the target's limits.
type replaceSet struct {
	target  cte.Target
	members []*scan // [0] is the configuration being shared or planned
	list    []cand  // the union in value order (members[0].cands when alone)
	sample  int
	samples []PlanItem

	packedN, overN    int
	packedBytes       int64
	digest            string
	appliedN, removeN int // applied values of all members, and those the list drops
	overSample        []string
}

func (rs *replaceSet) addSample(value string, t ioc.Type, what string) {
	if len(rs.samples) < rs.sample {
		rs.samples = append(rs.samples, PlanItem{Value: value, Type: t, Action: what})
	}
}

// replaceSet selects, for the Replace target of cs, what cs and every other
// configuration of the same target want, and packs the union.
func (e *Engine) replaceSet(tx Tx, cs *configState, rule *CompiledRule, aging time.Duration, now, since time.Time, sample int) (*replaceSet, error) {
	rs := &replaceSet{target: cs.target, sample: sample}
	states, rules, agings := e.replaceMembers(cs, rule, aging)
	for i, o := range states {
		rs.members = append(rs.members, &scan{cfg: o.cfg, target: cs.target, rule: rules[i], aging: agings[i], now: now, since: since})
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
	lim := rs.target.Limits
	for _, k := range order {
		c := &rs.list[k.i]
		n := listBytes(c.value)
		if (lim.MaxItems > 0 && rs.packedN >= lim.MaxItems) || (lim.MaxBytes > 0 && rs.packedBytes+n > lim.MaxBytes) {
			rs.overN++
			if len(rs.overSample) < 5 {
				rs.overSample = append(rs.overSample, c.value)
			}
			rs.addSample(c.value, c.typ, "over capacity")
			continue
		}
		c.packed = true
		rs.packedN++
		rs.packedBytes += n
		if !c.applied {
			rs.addSample(c.value, c.typ, "new")
		}
	}
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
			return nil
		}
		rs.appliedN++
		for j < len(rs.list) && rs.list[j].value < le.Value {
			j++
		}
		if j >= len(rs.list) || rs.list[j].value != le.Value || !rs.list[j].packed {
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
	for i := range m.cands {
		switch c := &m.cands[i]; {
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

func cloneIndicator(in *ioc.Indicator) ioc.Indicator {
	out := *in
	out.Tags = slices.Clone(in.Tags)
	return out
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

// Share pushes what a sharing configuration's target should have and records
// every outcome; see Engine. A push error (quota, rate limit, credentials) stops
// the share: what was not sent is recorded retryable and sent on a later cycle, and
// the error is returned. A product that asks to wait (rate limited) gets no push
// or retraction on that target until the wait ends; what is held back is
// counted as retrying. A muted rule shares nothing.
func (e *Engine) Share(ctx context.Context, name string, opts ...ShareOption) (ShareReport, error) {
	var o shareOptions
	for _, f := range opts {
		f(&o)
	}
	cs, rule, src, dst, err := e.config(name)
	if err == nil {
		if _, err = e.resolve(ctx, name, true); err != nil { // the target is listed on the first share
			e.fail(ctx, name, e.now(), err, "check that the destination is reachable and lists the target; the share is retried on the next cycle")
			return ShareReport{Config: name}, err
		}
		cs, rule, src, dst, err = e.config(name)
	}
	if err != nil {
		return ShareReport{Config: name}, err
	}
	rep := ShareReport{Config: name, Mode: cs.target.Mode}
	if err := cs.share.lock(ctx); err != nil {
		return rep, fmt.Errorf("sharing %q: %w", name, err)
	}
	defer cs.share.unlock()
	if err := e.bind(ctx, cs); err != nil {
		return rep, err
	}
	now := e.now()
	if o.replay {
		var n int
		err := e.store.Update(context.WithoutCancel(ctx), func(tx Tx) error {
			var err error
			n, err = resetLedger(tx, name, cs.boundTo(), "replay requested", now)
			return err
		})
		if err != nil {
			return rep, e.auditErr(ctx, name, now, fmt.Errorf("sharing %q: replay: %w", name, err), "check the store and replay again")
		}
		e.audit(ctx, AuditEntry{Time: now, Level: slog.LevelWarn, Config: name,
			Message:    fmt.Sprintf("replay requested: the ledger of %d value(s) starts again and everything selected is sent to %s %s", n, cs.cfg.Destination, cs.target.ID),
			Details:    details("reset", n),
			Resolution: "none needed; this is what was asked"})
	}
	if rule.Rule().Muted {
		rep.Muted = true
		e.audit(ctx, AuditEntry{Time: now, Level: slog.LevelInfo, Config: name,
			Message:    fmt.Sprintf("rule %q is muted: nothing shared to %s %s", rule.Rule().Name, cs.cfg.Destination, cs.target.ID),
			Resolution: "unmute the rule to resume sharing"})
		e.putRun(ctx, shareKey(name), now, nil, nil)
		return rep, nil
	}
	if cs.target.Mode == cte.Replace {
		// The whole computation holds the target: the other configurations of the
		// list are read and recorded too.
		tl := e.targetLock(cs.cfg.Destination, cs.target.ID)
		if err := tl.lock(ctx); err != nil {
			return rep, fmt.Errorf("sharing %q: %w", name, err)
		}
		defer tl.unlock()
		states, rules, _ := e.replaceMembers(cs, rule, src.settings.aging())
		var rs *replaceSet
		var in shareRun
		err := e.store.View(ctx, func(tx Tx) error {
			if err := in.check(tx, states, rules, name, now, o); err != nil || in.skip {
				return err
			}
			var err error
			rs, err = e.replaceSet(tx, cs, rule, src.settings.aging(), now, time.Time{}, 0)
			return err
		})
		if err != nil {
			err = fmt.Errorf("sharing %q: select indicators: %w", name, err)
			e.fail(ctx, name, now, err, "check the store; the share is retried on the next cycle")
			return rep, err
		}
		if in.skip {
			return e.skipped(ctx, cs, now, in)
		}
		own := rs.members[0]
		rep.Matched, rep.Rejected, rep.Waiting = own.matched, own.counts[actRejected], own.counts[actWaiting]
		err = e.shareReplace(ctx, cs, dst, rs, o.force, &rep)
		for _, m := range rs.members {
			in.until = earliest(in.until, m.until)
		}
		e.report(ctx, cs, now, &rep, err, in.done(e, &rep, now))
		return rep, err
	}
	s := &scan{cfg: cs.cfg, target: cs.target, rule: rule, aging: src.settings.aging(), now: now, keep: true}
	var in shareRun
	err = e.store.View(ctx, func(tx Tx) error {
		if err := in.check(tx, []*configState{cs}, []*CompiledRule{rule}, name, now, o); err != nil || in.skip {
			return err
		}
		return s.run(tx)
	})
	if err != nil {
		err = fmt.Errorf("sharing %q: select indicators: %w", name, err)
		e.fail(ctx, name, now, err, "check the store; the share is retried on the next cycle")
		return rep, err
	}
	if in.skip {
		return e.skipped(ctx, cs, now, in)
	}
	rep.Matched = s.matched
	rep.Unchanged = s.counts[actUnchanged]
	rep.Rejected = s.counts[actRejected]
	rep.Waiting = s.counts[actWaiting]
	err = e.shareAppend(ctx, cs, dst, s, &rep)
	in.until = earliest(in.until, s.until)
	e.report(ctx, cs, now, &rep, err, in.done(e, &rep, now))
	return rep, err
}

// fail records a share that could not run.
func (e *Engine) fail(ctx context.Context, name string, now time.Time, err error, resolution string) {
	e.audit(ctx, AuditEntry{Time: now, Level: slog.LevelError, Config: name, Message: err.Error(), Resolution: resolution})
	e.putRun(ctx, shareKey(name), now, err, nil)
}

// report writes the audit summary and run state of a share.
func (e *Engine) report(ctx context.Context, cs *configState, now time.Time, rep *ShareReport, err error, sk skipState) {
	lvl := slog.LevelInfo
	res := ""
	switch {
	case err != nil:
		lvl = errorLevel(err)
	case len(rep.Reasons) > 0, rep.OverCapacity > 0, rep.Retrying > 0:
		lvl = slog.LevelWarn
	case rep.Sent == 0 && rep.Retracted == 0 && !rep.Pushed:
		lvl = slog.LevelDebug // nothing changed: kept, but below the default filter
	}
	switch {
	case rep.OverCapacity > 0:
		res = "the target is full: raise its limits, or narrow the rule so the most important indicators fit"
	case rep.Retrying > 0:
		res = "retryable rejections are sent again on later cycles"
	case rep.Reasons[reasonCannotRetract] > 0:
		res = "the destination cannot remove indicators: remove the aged ones by hand, or share to a target that can"
	case rep.Rejected > 0:
		res = "rejected indicators are not sent again until they change; see the reasons"
	}
	d := details("matched", rep.Matched, "sent", rep.Sent, "applied", rep.Applied, "unchanged", rep.Unchanged,
		"rejected", rep.Rejected, "retrying", rep.Retrying, "waiting", rep.Waiting, "over capacity", rep.OverCapacity,
		"retracted", rep.Retracted, "mode", cs.target.Mode.String(), "target", cs.target.ID, "destination", cs.cfg.Destination)
	for r, n := range rep.Reasons {
		d["reason: "+r] = fmt.Sprint(n)
	}
	msg := fmt.Sprintf("shared to %s %s: %d applied, %d unchanged, %d rejected, %d retrying, %d over capacity, %d retracted",
		cs.cfg.Destination, cs.target.ID, rep.Applied, rep.Unchanged, rep.Rejected, rep.Retrying, rep.OverCapacity, rep.Retracted)
	if err != nil {
		msg = "share stopped: " + msg
	}
	if sk.skipped {
		d["skipped"] = "nothing it reads changed since the last share"
	}
	e.audit(ctx, AuditEntry{Time: now, Level: lvl, Config: cs.cfg.Name, Message: msg, Details: d, Resolution: res})
	e.putRunSkip(ctx, shareKey(cs.cfg.Name), now, err, map[string]int{
		"matched": rep.Matched, "sent": rep.Sent, "applied": rep.Applied, "unchanged": rep.Unchanged, "rejected": rep.Rejected,
		"retrying": rep.Retrying, "overCapacity": rep.OverCapacity, "retracted": rep.Retracted, "waiting": rep.Waiting,
	}, sk)
}

// auditErr audits err at error level and returns it.
func (e *Engine) auditErr(ctx context.Context, name string, now time.Time, err error, resolution string) error {
	e.audit(ctx, AuditEntry{Time: now, Level: slog.LevelError, Config: name, Message: err.Error(), Resolution: resolution})
	return err
}

// resolution says what to do about a push error.
func resolution(err error, dest string) string {
	switch {
	case errors.Is(err, cte.ErrAuth):
		return fmt.Sprintf("check the credentials and licences of plugin %q; what was not sent is retried on the next cycle", dest)
	case errors.Is(err, cte.ErrQuota):
		return fmt.Sprintf("the quota of %q is exhausted; what was not sent is retried on later cycles, or raise the quota", dest)
	case errors.Is(err, cte.ErrRateLimited):
		return fmt.Sprintf("%q is rate limiting; what was not sent is retried on the next cycle; a longer sync interval helps", dest)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "the share was stopped; what was not sent is sent on the next run"
	}
	return fmt.Sprintf("check that %q is reachable; what was not sent is retried on the next cycle", dest)
}

func (e *Engine) backoff(attempts int) time.Duration {
	d := e.retryBase
	for i := 1; i < attempts && d < e.retryMax; i++ {
		d *= 2
	}
	return min(d, e.retryMax)
}

// failed returns the ledger entry of an item refused or not sent for reason.
// An item the target holds an earlier version of (an update) stays
// StateApplied, so that it is still retracted when it ages out; its Reason and
// NextAttempt say that this version was refused (see decide).
func (e *Engine) failed(it *item, now time.Time, retryable bool, reason, code string, attempted bool) LedgerEntry {
	held := it.prev != nil && it.prev.State == StateApplied
	if held && reason == "" {
		reason = "refused"
	}
	le := LedgerEntry{Value: it.ind.Value, Type: it.ind.Type, Fingerprint: it.fp, Reason: reason, Code: code, At: now}
	if !retryable {
		le.State = StateRejected
		if held {
			le.State = StateApplied
		}
		return le
	}
	le.State = StateRetryable
	if held {
		le.State = StateApplied
	}
	if it.prev != nil && (it.prev.State == StateRetryable || held && it.prev.Reason != "") {
		le.Attempts = it.prev.Attempts
	}
	le.NextAttempt = now
	if attempted {
		le.Attempts++
		le.NextAttempt = now.Add(e.backoff(le.Attempts))
	}
	return le
}

// outcome turns the result of pushing batch into ledger entries.
func (e *Engine) outcome(batch []item, res cte.PushResult, err error, now time.Time, rep *ShareReport) []LedgerEntry {
	rej := make(map[string]cte.Rejected, len(res.Rejected))
	for _, r := range res.Rejected {
		rej[r.Value] = r
	}
	accounted := res.Applied+res.Unchanged+len(res.Rejected) >= len(batch)
	out := make([]LedgerEntry, 0, len(batch))
	for i := range batch {
		it := &batch[i]
		if r, ok := rej[it.ind.Value]; ok {
			// A full target is not a refusal for good: it is retried with a
			// growing delay, so it gets in once retraction frees space.
			full := r.Reason == cte.ReasonOverCapacity
			out = append(out, e.failed(it, now, r.Retryable || full, r.Reason, r.Code, true))
			rep.reason(r.Reason)
			switch {
			case full:
				rep.OverCapacity++
			case r.Retryable:
				rep.Retrying++
			default:
				rep.Rejected++
			}
			continue
		}
		if err == nil || accounted {
			out = append(out, LedgerEntry{Value: it.ind.Value, Type: it.ind.Type, State: StateApplied, Fingerprint: it.fp, At: now})
			rep.Applied++
			continue
		}
		// A cancelled share (the process stopping) is not the product's failure:
		// no delay, the next run sends it again.
		stopped := errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
		out = append(out, e.failed(it, now, true, "push failed: "+err.Error(), "", !stopped))
		rep.Retrying++
		rep.reason("push failed")
	}
	return out
}

func (e *Engine) putLedger(ctx context.Context, config string, entries []LedgerEntry) error {
	if len(entries) == 0 {
		return nil
	}
	// A push that happened must be recorded even when ctx was cancelled meanwhile.
	return e.store.Update(context.WithoutCancel(ctx), func(tx Tx) error { return tx.PutLedger(config, entries) })
}

func batches[T any](in []T, size int) [][]T {
	if size <= 0 {
		size = len(in)
	}
	var out [][]T
	for len(in) > 0 {
		n := min(size, len(in))
		out = append(out, in[:n:n])
		in = in[n:]
	}
	return out
}

func indicators(items []item) []ioc.Indicator {
	out := make([]ioc.Indicator, len(items))
	for i := range items {
		out[i] = items[i].ind
	}
	return out
}

// byPriority orders items severity first, then the most recently seen, then value.
func byPriority(a, b item) int {
	if c := cmp.Compare(b.ind.Severity, a.ind.Severity); c != 0 {
		return c
	}
	if c := b.ind.LastSeen.Compare(a.ind.LastSeen); c != 0 {
		return c
	}
	return strings.Compare(a.ind.Value, b.ind.Value)
}

func (e *Engine) shareAppend(ctx context.Context, cs *configState, dst *pluginState, s *scan, rep *ShareReport) error {
	tl := e.targetLock(cs.cfg.Destination, cs.target.ID)
	if err := tl.lock(ctx); err != nil {
		return err
	}
	defer tl.unlock()
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
	bs := batches(s.send, cs.target.Limits.BatchSize)
	for i, b := range bs {
		res, err := dst.p.Push(ctx, cs.target, indicators(b))
		rep.Sent += len(b)
		entries := e.outcome(b, res, err, now, rep)
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
			Message: fmt.Sprintf("retracted %d inactive indicator(s) from %s %s", rep.Retracted, cs.cfg.Destination, cs.target.ID),
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
	for n, o := range e.configs {
		if n != cs.cfg.Name && o.cfg.Destination == cs.cfg.Destination && o.target.ID == cs.target.ID {
			aging := DefaultAging
			if p := e.plugins[o.cfg.Source]; p != nil {
				aging = p.settings.aging()
			}
			sibs = append(sibs, sibling{n, o.cfg.Source, aging})
		}
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

func (e *Engine) shareReplace(ctx context.Context, cs *configState, dst *pluginState, rs *replaceSet, force bool, rep *ShareReport) error {
	own := rs.members[0]
	now := own.now
	name := cs.cfg.Name
	_, rep.Unchanged, rep.OverCapacity = own.listCounts()
	if rs.overN > 0 {
		e.audit(ctx, AuditEntry{Time: now, Level: slog.LevelWarn, Config: name,
			Message: fmt.Sprintf("%d indicator(s) do not fit %s %s and are left out", rs.overN, cs.cfg.Destination, cs.target.ID),
			Details: details("packed", rs.packedN, "bytes", rs.packedBytes, "max items", cs.target.Limits.MaxItems,
				"max bytes", cs.target.Limits.MaxBytes, "examples", strings.Join(rs.overSample, ", ")),
			Resolution: "the highest severity and most recently seen indicators are kept; raise the target's limits or narrow the rule to share the rest"})
	}
	var applied AppliedSet
	var haveApplied bool
	err := e.store.View(ctx, func(tx Tx) error {
		var err error
		applied, haveApplied, err = tx.AppliedSet(name)
		haveApplied = haveApplied && applied.Digest != ""
		return err
	})
	if err != nil {
		return e.auditErr(ctx, name, now, fmt.Errorf("sharing %q: read applied set: %w", name, err),
			"check the store; the share is retried on the next cycle")
	}
	// overEntries records, for every member, what the list leaves out.
	overEntries := func(m *scan) []LedgerEntry {
		var out []LedgerEntry
		for i := range m.cands {
			c := &m.cands[i]
			if !c.packed && c.prevState != StateOverCapacity {
				out = append(out, LedgerEntry{Value: c.value, Type: c.typ, State: StateOverCapacity, Fingerprint: c.fp,
					Reason: cte.ReasonOverCapacity, At: now})
			}
		}
		return out
	}
	if (haveApplied && applied.Digest == rs.digest) || (!haveApplied && rs.packedN == 0 && rs.appliedN == 0) {
		err := e.store.Update(context.WithoutCancel(ctx), func(tx Tx) error {
			for _, m := range rs.members {
				if m.fresh {
					continue
				}
				if err := tx.PutLedger(m.cfg.Name, overEntries(m)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return e.auditErr(ctx, name, now, fmt.Errorf("sharing %q: record what does not fit: %w", name, err),
				"check the store; the share is retried on the next cycle")
		}
		return nil
	}
	rep.Unchanged = 0
	if !force && e.guardShare < 1 && rs.appliedN >= e.guardMin && float64(rs.removeN) > e.guardShare*float64(rs.appliedN) {
		err := fmt.Errorf("sharing %q: %w: it would remove %d of the %d values %s %s holds (more than %.0f%%)",
			name, ErrGuardrail, rs.removeN, rs.appliedN, cs.cfg.Destination, cs.target.ID, e.guardShare*100)
		e.audit(ctx, AuditEntry{Time: now, Level: slog.LevelError, Config: name, Message: err.Error(),
			Details:    details("applied", rs.appliedN, "removed", rs.removeN, "packed", rs.packedN),
			Resolution: "check the source and the rule; if the removal is intended, share again with force"})
		return err
	}
	if until := e.pushWait(cs.cfg.Destination, cs.target.ID); now.Before(until) {
		rep.Retrying = rs.packedN
		rep.reason(reasonRateLimited)
		return nil
	}
	// Read the packed indicators whole, each from the first member that selects it.
	var push []item
	skipped := map[string]bool{}
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
				skipped[c.value] = true // changed since the scan; the next share settles it
				continue
			}
			push = append(push, item{ind: cloneIndicator(&en.Indicator), fp: fingerprint(&en.Indicator)})
		}
		return nil
	})
	if err != nil {
		return e.auditErr(ctx, name, now, fmt.Errorf("sharing %q: read packed indicators: %w", name, err),
			"check the store; the share is retried on the next cycle")
	}
	slices.SortFunc(push, byPriority)
	res, perr := dst.p.Push(ctx, cs.target, indicators(push))
	rep.Sent = len(push)
	if perr != nil {
		if wait := serverWait(perr); wait > 0 {
			e.holdPushes(cs.cfg.Destination, cs.target.ID, now.Add(wait))
		}
		perr = fmt.Errorf("sharing %q: push to %s %s: %w", name, cs.cfg.Destination, cs.target.ID, perr)
		rep.Retrying = len(push)
		rep.reason("push failed")
		e.audit(ctx, AuditEntry{Time: now, Level: errorLevel(perr), Config: name, Message: perr.Error(),
			Details:    details("list size", len(push)),
			Resolution: resolution(perr, cs.cfg.Destination) + "; the list on the target is unchanged"})
		return perr
	}
	rej := make(map[string]cte.Rejected, len(res.Rejected))
	for _, r := range res.Rejected {
		rej[r.Value] = r
	}
	var kept []string
	for i := range push {
		if _, ok := rej[push[i].ind.Value]; !ok {
			kept = append(kept, push[i].ind.Value)
		}
	}
	slices.Sort(kept)
	set := AppliedSet{Digest: digestOf(kept), Count: len(kept), At: now, Target: cs.cfg.Destination + " " + cs.target.ID}
	for _, r := range res.Rejected {
		rep.reason(r.Reason)
	}
	rep.Pushed = true
	err = e.store.Update(context.WithoutCancel(ctx), func(tx Tx) error {
		for mi, m := range rs.members {
			if m.fresh {
				continue // recorded when it shares: its ledger starts again then
			}
			entries := overEntries(m)
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
					entries = append(entries, e.failed(&it, now, r.Retryable || r.Reason == cte.ReasonOverCapacity, r.Reason, r.Code, true))
					if mi == 0 {
						switch {
						case r.Reason == cte.ReasonOverCapacity:
							rep.OverCapacity++
						case r.Retryable:
							rep.Retrying++
						default:
							rep.Rejected++
						}
					}
					continue
				}
				if mi == 0 {
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
				if mi == 0 {
					rep.Retracted++
				}
			}
			if err := tx.PutLedger(m.cfg.Name, entries); err != nil {
				return err
			}
			if err := tx.PutAppliedSet(m.cfg.Name, set); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		err = fmt.Errorf("sharing %q: record pushed list: %w", name, err)
		e.audit(ctx, AuditEntry{Time: now, Level: slog.LevelError, Config: name, Message: err.Error(),
			Resolution: "check the store; the list is pushed again on the next cycle"})
		return err
	}
	return nil
}
