package sharing

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"slices"
	"strings"
	"time"

	"github.com/ctexchange/cte"
)

// A share or an aging pass that nothing changed is skipped. What a share
// selects depends on the entries of its source and of its destination (loop
// prevention; see countOverlap), on its rule, its target and, for a Replace target, on the
// other configurations of the same list; on the operator's marks; and on time,
// through expiry, aging and retries falling due. The first are fingerprinted
// as RunState.Inputs, from the stores' per-source Version; time as
// RunState.Until, the earliest instant at which something the last run saw
// expires or falls due. A share is skipped while both hold; a run that did
// not complete (an error, a push held back) stores no Inputs.

// inputsVersion marks the fingerprint's layout: a new layout never skips.
const inputsVersion = "inputs/1"

// fingerprinter builds an Inputs fingerprint.
type fingerprinter struct{ h hash.Hash }

func newFingerprinter(kind string) *fingerprinter {
	f := &fingerprinter{h: sha256.New()}
	f.add(inputsVersion, kind)
	return f
}

func (f *fingerprinter) add(parts ...any) {
	for _, p := range parts {
		fmt.Fprintf(f.h, "%v\x00", p)
	}
	f.h.Write([]byte{'\n'})
}

func (f *fingerprinter) sum() string { return hex.EncodeToString(f.h.Sum(nil)) }

// addSource adds a source's name and version.
func (f *fingerprinter) addSource(tx Tx, source string) error {
	v, err := tx.Version(source)
	if err != nil {
		return err
	}
	f.add("source", source, v)
	return nil
}

// addRule adds everything a rule selects by.
func (f *fingerprinter) addRule(r *CompiledRule) {
	rr := r.Rule()
	f.add("rule", rr.Name, rr.Filter, rr.Muted, len(rr.Exceptions))
	for _, x := range rr.Exceptions {
		f.add("exception", x.Name, x.Query, strings.Join(x.Tags, "\x01"))
	}
}

// addTarget adds what the engine reads of a target.
func (f *fingerprinter) addTarget(destination string, t cte.Target) {
	f.add("target", destination, t.ID, t.Mode, t.Limits.MaxItems, t.Limits.MaxBytes, t.Limits.BatchSize, fmt.Sprint(t.Types))
}

// addMarks adds the operator's marks (few by nature).
func (f *fingerprinter) addMarks(tx Tx) error {
	return tx.Marks(func(m Mark) error {
		f.add("mark", m.Value, m.Kind, m.At.UnixNano())
		return nil
	})
}

// timeDependent reports whether a rule may select differently as time passes
// with the same store (age, relative times). It errs on the safe side: any
// mention of a time field counts.
func timeDependent(r *CompiledRule) bool {
	rr := r.Rule()
	qs := []string{rr.Filter}
	for _, x := range rr.Exceptions {
		qs = append(qs, x.Query)
	}
	for _, q := range qs {
		q = strings.ToLower(q)
		for _, w := range [...]string{"age", "seen", "expires", "now"} {
			if strings.Contains(q, w) {
				return true
			}
		}
	}
	return false
}

// shareInputs fingerprints what a share of cs reads, for the members of its
// target (cs first; one for an Append target). It returns "" when the
// share must not be skipped whatever happened before (a time-dependent rule).
func shareInputs(tx Tx, members []*configState, rules []*CompiledRule) (string, error) {
	f := newFingerprinter("share")
	own := members[0]
	f.addTarget(own.cfg.Destination, own.target)
	// The destination's entries matter through loop prevention only: what
	// counts is a pull that adds one to a value another source reported.
	if err := f.addOverlaps(tx, own.cfg.Destination); err != nil {
		return "", err
	}
	for i, m := range members {
		if timeDependent(rules[i]) {
			return "", nil
		}
		was, err := boundElsewhere(tx, m)
		if err != nil {
			return "", err
		}
		f.add("member", m.cfg.Name, was)
		f.addRule(rules[i])
		if err := f.addSource(tx, m.cfg.Source); err != nil {
			return "", err
		}
	}
	if err := f.addMarks(tx); err != nil {
		return "", err
	}
	return f.sum(), nil
}

// overlapKey is the run state counting the pages of a source that added
// entries to values other sources reported (MergeStats.Added).
func overlapKey(source string) string { return "overlaps/" + source }

// countOverlap counts, in tx, a page of source that added entries to values
// other sources reported: loop prevention may now leave them out of what
// the configurations sharing to source select.
func countOverlap(tx Tx, source string, now time.Time) error {
	rs, _, err := tx.RunState(overlapKey(source))
	if err != nil {
		return err
	}
	n := rs.Counts["pages"]
	rs.Name, rs.LastRun, rs.LastOK, rs.Counts = overlapKey(source), now, now, map[string]int{"pages": n + 1}
	return tx.PutRunState(rs)
}

// addOverlaps adds the overlap count of a destination.
func (f *fingerprinter) addOverlaps(tx Tx, destination string) error {
	rs, _, err := tx.RunState(overlapKey(destination))
	if err != nil {
		return err
	}
	f.add("overlaps", destination, rs.Counts["pages"])
	return nil
}

// canSkip reports whether the last run stored as rs read the same inputs and
// nothing it saw has fallen due by now.
func canSkip(rs RunState, found bool, inputs string, now time.Time) bool {
	return found && inputs != "" && rs.LastError == "" && rs.Inputs == inputs && now.Before(rs.Until)
}

// dueAt is the instant an active entry expires, by its own ExpiresAt or its
// source's aging; the zero time when it never does.
func dueAt(en *Entry, aging time.Duration) time.Time {
	last := en.LastSeen
	if last.IsZero() {
		last = en.StoredAt
	}
	var t time.Time
	if !last.IsZero() {
		t = last.Add(aging)
	}
	if ownExpiry(en) && (t.IsZero() || en.ExpiresAt.Before(t)) {
		t = en.ExpiresAt
	}
	return t
}

// earliest returns the earlier of a and b, zero meaning never.
func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}

// never is the Until of a run that nothing it saw will make due.
var never = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// untilOr returns t, or never when t is zero.
func untilOr(t time.Time) time.Time {
	if t.IsZero() {
		return never
	}
	return t
}

// replaceMembers returns the configurations sharing the Replace target of cs,
// cs first then by name, with their rules and source agings; those whose rule
// or source is gone are left out.
func (e *Engine) replaceMembers(cs *configState, rule *CompiledRule, aging time.Duration) ([]*configState, []*CompiledRule, []time.Duration) {
	states, rules, agings := []*configState{cs}, []*CompiledRule{rule}, []time.Duration{aging}
	e.mu.RLock()
	defer e.mu.RUnlock()
	for _, n := range e.siblingsLocked(cs) {
		o := e.configs[n]
		r, src := e.rules[o.cfg.Rule], e.plugins[o.cfg.Source]
		if r == nil || src == nil {
			continue
		}
		states, rules, agings = append(states, o), append(rules, r), append(agings, src.settings.aging())
	}
	return states, rules, agings
}

// siblingsLocked returns the names of the other configurations of cs's
// target, sorted (e.mu held).
func (e *Engine) siblingsLocked(cs *configState) []string {
	var names []string
	for n, o := range e.configs {
		if n != cs.cfg.Name && o.cfg.Destination == cs.cfg.Destination && o.target.ID == cs.target.ID {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// shareRun carries a share's inputs from the check before its scan to the
// run state stored after it.
type shareRun struct {
	inputs string
	until  time.Time // earliest expiry or retry seen; zero for never
	skip   bool
	prev   RunState // the last run, when skip
}

// check fingerprints the inputs in tx and decides whether the share can be
// skipped. A forced share or a replay never is.
func (r *shareRun) check(tx Tx, states []*configState, rules []*CompiledRule, name string, now time.Time, o shareOptions) error {
	var err error
	if r.inputs, err = shareInputs(tx, states, rules); err != nil || r.inputs == "" {
		return err
	}
	prev, found, err := tx.RunState(shareKey(name))
	if err != nil {
		return err
	}
	if !o.force && !o.replay && !o.retryNow && canSkip(prev, found, r.inputs, now) {
		r.skip, r.prev = true, prev
	}
	return nil
}

// skipState is what a share's run state records about skipping.
type skipState struct {
	inputs  string
	until   time.Time
	skipped bool // this share was skipped
}

// done returns what the run state of a completed share records: its inputs,
// unless the share stopped (its context ended), was held back by the product or left values to
// retry now.
func (r *shareRun) done(ctx context.Context, e *Engine, rep *ShareReport, now time.Time) skipState {
	if r.inputs == "" || rep.Reasons[reasonRateLimited] > 0 || ctx.Err() != nil {
		return skipState{}
	}
	until := r.until
	// A product's rejections carry a reason; what a Replace list leaves out
	// by its own limits does not, and is not retried.
	if rep.Retrying > 0 || len(rep.Reasons) > 0 || (rep.Mode == cte.Append && rep.OverCapacity > 0) {
		// Recorded retryable this run: due again after the backoff at the
		// earliest (a value not sent at all fails the share instead).
		until = earliest(until, now.Add(e.retryBase))
	}
	return skipState{inputs: r.inputs, until: untilOr(until)}
}

// skipped reports a share that nothing changed: the counts of the last run,
// as they stand now (what was applied is unchanged, what was to retry waits).
func (e *Engine) skipped(ctx context.Context, cs *configState, now time.Time, r shareRun) (ShareReport, error) {
	c := r.prev.Counts
	rep := ShareReport{Config: cs.cfg.Name, Mode: cs.target.Mode, Matched: c["matched"], Rejected: c["rejected"],
		Unchanged: c["applied"] + c["unchanged"], Waiting: c["retrying"] + c["waiting"]}
	if cs.target.Mode == cte.Replace {
		rep.OverCapacity = c["overCapacity"]
	} else {
		rep.Waiting += c["overCapacity"]
	}
	err := e.report(ctx, cs, now, &rep, nil, skipState{inputs: r.inputs, until: r.prev.Until, skipped: true}, &shareWrites{})
	return rep, err
}

// recordRun sets a run state to record a run at at: its counts, its error
// (none: LastOK) and its skip state.
func recordRun(rs *RunState, at time.Time, runErr error, counts map[string]int, sk skipState) {
	rs.LastRun, rs.Counts = at, counts
	if runErr != nil {
		rs.LastError = runErr.Error()
	} else {
		rs.LastOK, rs.LastError = at, ""
	}
	rs.Inputs, rs.Until = sk.inputs, sk.until
}
