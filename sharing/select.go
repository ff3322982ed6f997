package sharing

// This file selects: which indicators of a source a sharing configuration
// takes (scan), what to do with each given its ledger entry (decide), and the
// fingerprint that tells a changed indicator.

import (
	"slices"
	"time"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
)

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
	case StateSending: // the share stopped (a crash) before the outcome was known
		if prev.Fingerprint == fp {
			return actRetry
		}
		return actChanged
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
	probed   bool // found after a ranked read stopped (probe): counted in scan.overRaw
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
	sampler
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
	nCands   int      // kept in chunks
	// overRaw counts, when a ranked read stopped judging once the target was
	// full (rankedRead), the source's active entries of an accepted type it
	// did not read: each may match, so over-capacity and matched counts that
	// include them are upper bounds.
	overRaw int

	retractVals []LedgerEntry // Replace: applied, no longer selected by this configuration
	marks       markSet       // values an operator took out of sharing (actions.go)

	until    time.Time // the earliest expiry or retry of what the scan selected; zero for never
	retryNow bool      // retryable indicators are due now (WithRetryNow)
}

// sampler keeps the first PlanItems of a Plan or an Explain.
type sampler struct {
	sample  int // how many PlanItems to keep
	samples []PlanItem
}

func (s *sampler) addSample(value string, t ioc.Type, what string) {
	if len(s.samples) < s.sample {
		s.samples = append(s.samples, PlanItem{Value: value, Type: t, Action: what})
	}
}

// start prepares a scan: its counts and the operator's marks.
func (s *scan) start(tx Tx) error {
	s.excluded = map[string]int{}
	var err error
	s.marks, err = loadMarks(tx)
	return err
}

// finish sums the counts by type.
func (s *scan) finish() {
	s.byType = map[ioc.Type]TypeCount{}
	for t, c := range s.types {
		if c.Count > 0 {
			s.byType[ioc.Type(t)] = c
		}
	}
}

// run scans the records of the store in tx.
func (s *scan) run(tx Tx) error {
	if err := s.start(tx); err != nil {
		return err
	}
	defer s.finish()
	var err error
	if rt, ok := tx.(RankedTx); ok && s.target.Mode == cte.Append {
		err = s.runSource(tx, rt)
	} else {
		err = tx.Records(func(r *Record) error { return s.visit(tx, r) })
	}
	if err == nil && s.target.Mode == cte.Append {
		err = s.retractMarked(tx)
	}
	if err != nil || s.target.Mode == cte.Append {
		return err
	}
	s.collect()
	return nil
}

// runSource visits, in value order, only the records an Append scan can act
// on, instead of every record in the store: the source's active entries
// (RankedTx; expired ones included), the values the configuration's ledger
// shows applied, being sent or retryable (an inactive one is retracted or
// settled; unless the ledger is about another target), and the marked values
// (counted as excluded). visit does nothing with any other record: it has no
// entry from the source, or an inactive one the target never held. A
// retraction pass (retractOnly) needs no active entry: an expired one it
// retracts is in the ledger. So a share of a small source into an Append
// target costs that source, not the store.
func (s *scan) runSource(tx Tx, rt RankedTx) error {
	var values []string
	if !s.retractOnly {
		err := rt.Ranked(s.cfg.Source, func(value string, _ ioc.Type) error {
			values = append(values, value)
			return nil
		})
		if err != nil {
			return err
		}
	}
	if !s.fresh {
		err := tx.LedgerEntries(s.cfg.Name, func(le *LedgerEntry) error {
			switch le.State {
			case StateApplied, StateSending, StateRetryable:
				values = append(values, le.Value)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	for v := range s.marks {
		values = append(values, v)
	}
	slices.Sort(values)
	for _, v := range slices.Compact(values) {
		r, ok, err := tx.Record(v)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if err := s.visit(tx, &r); err != nil {
			return err
		}
	}
	return nil
}

// collect moves the candidates addCand kept in s.chunks to s.cands.
func (s *scan) collect() {
	s.cands = slices.Grow(s.cands[:0], s.nCands)
	for _, c := range s.chunks {
		s.cands = append(s.cands, c...)
	}
	s.chunks = nil
}

// visit is the scan of one record: the one filter of Share, Plan and Explain
// before the selection predicate (the source's entry, Plan's window, the
// operator's marks, inactive and expired entries), then active or inactive.
// A Replace candidate it finds is appended to s.chunks (s.nCands counts them).
func (s *scan) visit(tx Tx, r *Record) error {
	en, ok := r.Entry(s.cfg.Source)
	switch {
	case !ok || (!s.since.IsZero() && en.StoredAt.Before(s.since)):
		return nil
	case s.marks.excluded(r.Value): // retracted by retractMarked
		s.excluded[exclMarked]++
		return nil
	case en.Inactive || expired(en, s.aging, s.now):
		if s.target.Mode != cte.Append {
			return nil
		}
		return s.inactive(tx, r, en)
	case s.retractOnly:
		return nil
	}
	return s.active(tx, r, en)
}

// selects is the one selection predicate of Share, Plan and Explain, for an
// active entry en of record r from the configuration's source. It returns the
// exclusion that leaves the entry out whatever the rule says (exclType,
// exclLoop, exclNeverShare; "" for none) and whether the rule matches. The
// rule is not asked about a type the target refuses or a loop.
func selects(cfg Config, t cte.Target, rule *CompiledRule, r *Record, en *Entry, now time.Time) (excl string, matched bool) {
	// The value's bytes are touched last: on a large store they are the cache
	// misses.
	if !t.Accepts(en.Type) {
		return exclType, false
	}
	if _, loop := r.Entry(cfg.Destination); loop {
		return exclLoop, false
	}
	matched = rule.Match(&en.Indicator, now)
	if matched && neverShare(en.Type, r.Value) {
		return exclNeverShare, true
	}
	return "", matched
}

// inactive handles an inactive (or expired) entry of an Append configuration:
// applied, it is to retract; retryable, it is settled.
func (s *scan) inactive(tx Tx, r *Record, en *Entry) error {
	var le LedgerEntry
	var ok bool
	if !s.fresh {
		var err error
		if le, ok, err = tx.Ledger(s.cfg.Name, r.Value); err != nil {
			return err
		}
	}
	if ok && mayHold(le) {
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

// active decides what to do with an active entry: counted, and kept to send
// (Append) or as a candidate for the list (Replace).
func (s *scan) active(tx Tx, r *Record, en *Entry) error {
	excl, matched := selects(s.cfg, s.target, s.rule, r, en, s.now)
	if excl != "" {
		s.excluded[excl]++
	}
	if excl != "" || !matched {
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
	var prev *LedgerEntry
	if has {
		prev = &le
	}
	act := decide(prev, fp, s.now)
	if act == actWaiting && s.retryNow {
		act = actRetry
	}
	s.counts[act]++
	s.until = earliest(s.until, dueAt(en, s.aging))
	if act == actWaiting {
		s.until = earliest(s.until, le.NextAttempt)
	}
	switch {
	case s.target.Mode == cte.Append:
		if act.sends() {
			s.addSample(r.Value, en.Type, act.String())
			if s.keep {
				if has {
					cp := le
					prev = &cp
				}
				s.send = append(s.send, item{ind: cloneIndicator(&en.Indicator), fp: fp, prev: prev, act: act})
			}
		}
	case act != actRejected && act != actWaiting:
		s.addCand(r, en, fp, prev)
	}
	return nil
}

// addCand keeps a candidate for a Replace list.
func (s *scan) addCand(r *Record, en *Entry, fp uint64, le *LedgerEntry) {
	c := cand{value: r.Value, typ: en.Type, sev: en.Severity, lastSeen: en.LastSeen.UnixNano(), fp: fp,
		applied: le != nil && le.State == StateApplied}
	if le != nil {
		c.prevState, c.prevAttempts, c.prevFP = le.State, int32(min(le.Attempts, 1<<30)), le.Fingerprint
	}
	if n := len(s.chunks); n == 0 || len(s.chunks[n-1]) == cap(s.chunks[n-1]) {
		size := 1 << 15
		if n == 0 {
			size = 1 << 8 // a small scan keeps few
		}
		s.chunks = append(s.chunks, make([]cand, 0, size))
	}
	last := &s.chunks[len(s.chunks)-1]
	*last = append(*last, c)
	s.nCands++
}

// lastCand returns the candidate addCand kept last.
func (s *scan) lastCand() *cand {
	last := s.chunks[len(s.chunks)-1]
	return &last[len(last)-1]
}

func cloneIndicator(in *ioc.Indicator) ioc.Indicator {
	out := *in
	out.Tags = slices.Clone(in.Tags)
	return out
}
