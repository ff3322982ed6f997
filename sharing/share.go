package sharing

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
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

type shareOptions struct{ force, replay, retryNow bool }

// WithForce lets a Replace push through the guardrail.
func WithForce() ShareOption { return func(o *shareOptions) { o.force = true } }

// WithRetryNow sends the retryable indicators now, without waiting for their
// next attempt (after an outage has cleared). A wait a rate-limited product
// asked for is still honoured.
func WithRetryNow() ShareOption { return func(o *shareOptions) { o.retryNow = true } }

// WithReplay sends again everything the configuration selects, as if it had never
// shared: its ledger starts again (the entries are recorded retracted, reason
// "replay requested") and a Replace list is pushed whole. Use it when a product
// lost what it was given, instead of editing checkpoints or re-creating the
// configuration. The guardrail does not apply, as nothing counts as applied.
func WithReplay() ShareOption { return func(o *shareOptions) { o.replay = true } }

// ShareReport says what one Share did.
type ShareReport struct {
	Config string
	Mode   cte.Mode
	Muted  bool // the rule is muted: nothing was shared
	// Matched counts the active indicators of the source that match and the
	// target takes. For a full Replace target on a store that ranks
	// (RankedTx), the values the share did not read once the list was full
	// count as if they matched: Matched and OverCapacity are then upper
	// bounds (Plan reads everything and counts them exactly).
	Matched      int
	Sent         int            // indicators given to Push
	Applied      int            // newly applied for this configuration (new, changed, or retried)
	Unchanged    int            // already applied (Append: as they are, so not sent again)
	Rejected     int            // refused for good (this run, or earlier with the same fingerprint)
	Retrying     int            // refused or not sent this run; retried on a later cycle
	Waiting      int            // retryable, not due yet
	OverCapacity int            // left out of a full target (Append: retried with the growing delay)
	Retracted    int            // removed from the target
	Pushed       bool           // a Replace target was given a new list
	Deferred     bool           // another instance holds the target's lease: nothing done, shared on the next sync (audited)
	Reasons      map[string]int // rejections and deferrals by reason
}

// countRefused counts one value the destination did not apply: over
// capacity, retrying or rejected.
func (r *ShareReport) countRefused(rj cte.Rejected) {
	switch {
	case rj.Reason == cte.ReasonOverCapacity:
		r.OverCapacity++
	case rj.Retryable:
		r.Retrying++
	default:
		r.Rejected++
	}
}

func (r *ShareReport) reason(s string) {
	if r.Reasons == nil {
		r.Reasons = map[string]int{}
	}
	r.Reasons[s]++
}

// reasonRateLimited counts what was held back because the product asked to wait.
const reasonRateLimited = "held: the product asked to wait"

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
	ctx, release, ok, err := e.leaseTarget(ctx, cs, shareWhat(o))
	if err != nil {
		e.fail(ctx, name, e.now(), err, "check the store; the share is retried on the next cycle")
		return rep, err
	}
	if !ok {
		rep.Deferred = true
		if o.replay { // a replay is not repeated by the next sync: say so
			return rep, fmt.Errorf("sharing %q: replay: another cte instance is pushing to %s %s now (lease %s): replay again in a moment", name, cs.cfg.Destination, cs.target.ID, targetLease(cs))
		}
		return rep, nil
	}
	defer release()
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
		var w shareWrites
		w.audit(AuditEntry{Time: now, Level: slog.LevelInfo, Config: name,
			Message:    fmt.Sprintf("rule %q is muted: nothing shared to %s %s", rule.Rule().Name, cs.cfg.Destination, cs.target.ID),
			Resolution: "unmute the rule to resume sharing"})
		if err := e.commit(ctx, &w, shareKey(name), func(rs *RunState) { recordRun(rs, now, nil, nil, skipState{}) }); err != nil {
			return rep, e.notRecorded(ctx, &w, name, now, fmt.Errorf("sharing %q: %w", name, err), "check the store; the share runs again on the next cycle")
		}
		return rep, nil
	}
	if cs.target.Mode == cte.Replace {
		return e.shareReplaceConfig(ctx, cs, rule, src, dst, now, o, rep)
	}
	return e.shareAppendConfig(ctx, cs, rule, src, dst, now, o, rep)
}

// shareWhat names a share in the audit entry of its deferral.
func shareWhat(o shareOptions) string {
	if o.replay {
		return "replay"
	}
	return "share"
}

// shareReplaceConfig shares a configuration of a Replace target. The whole
// computation holds the target: the other configurations of the list are read
// and recorded too.
func (e *Engine) shareReplaceConfig(ctx context.Context, cs *configState, rule *CompiledRule, src, dst *pluginState, now time.Time, o shareOptions, rep ShareReport) (ShareReport, error) {
	name := cs.cfg.Name
	unlock, err := e.lockTarget(ctx, cs)
	if err != nil {
		return rep, fmt.Errorf("sharing %q: %w", name, err)
	}
	defer unlock()
	states, rules, _ := e.replaceMembers(cs, rule, src.settings.aging())
	var rs *replaceSet
	var in shareRun
	err = e.store.View(ctx, func(tx Tx) error {
		if err := in.check(tx, states, rules, name, now, o); err != nil || in.skip {
			return err
		}
		var err error
		rs, err = e.replaceSet(tx, cs, rule, src.settings.aging(), now, time.Time{}, 0, o.retryNow, false)
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
	var w shareWrites
	err = e.shareReplace(ctx, cs, dst, rs, o.force, &rep, &w)
	for _, m := range rs.members {
		in.until = earliest(in.until, m.until)
	}
	return rep, e.report(ctx, cs, now, &rep, err, in.done(ctx, e, &rep, now), &w)
}

// shareAppendConfig shares a configuration of an Append target.
func (e *Engine) shareAppendConfig(ctx context.Context, cs *configState, rule *CompiledRule, src, dst *pluginState, now time.Time, o shareOptions, rep ShareReport) (ShareReport, error) {
	name := cs.cfg.Name
	s := &scan{cfg: cs.cfg, target: cs.target, rule: rule, aging: src.settings.aging(), now: now, keep: true, retryNow: o.retryNow}
	var in shareRun
	err := e.store.View(ctx, func(tx Tx) error {
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
	return rep, e.report(ctx, cs, now, &rep, err, in.done(ctx, e, &rep, now), &shareWrites{})
}

// fail records a share that could not run: its error, audited, and its run
// state, in one Update.
func (e *Engine) fail(ctx context.Context, name string, now time.Time, err error, resolution string) {
	var w shareWrites
	w.audit(errEntry(name, now, err, resolution))
	if werr := e.commit(ctx, &w, shareKey(name), func(rs *RunState) { recordRun(rs, now, err, nil, skipState{}) }); werr != nil {
		e.emit(ctx, w.audits[0])
		e.log.LogAttrs(ctx, slog.LevelError, "sharing: cannot store audit entry and run state", slog.String("config", name), slog.String("error", werr.Error()))
	}
}

// report writes what the share collected in w, its audit summary and its
// run state in one Update (commit: its audit entries apart when only they
// fail), and returns err, the share's own error. When the outcome cannot be
// stored, the failure is audited and the run state records it on their own,
// so that the next cycle shares again, and it is returned with err.
func (e *Engine) report(ctx context.Context, cs *configState, now time.Time, rep *ShareReport, err error, sk skipState, w *shareWrites) error {
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
	w.audit(AuditEntry{Time: now, Level: lvl, Config: cs.cfg.Name, Message: msg, Details: d, Resolution: res})
	counts := map[string]int{
		"matched": rep.Matched, "sent": rep.Sent, "applied": rep.Applied, "unchanged": rep.Unchanged, "rejected": rep.Rejected,
		"retrying": rep.Retrying, "overCapacity": rep.OverCapacity, "retracted": rep.Retracted, "waiting": rep.Waiting,
	}
	if err != nil {
		sk = skipState{}
	}
	werr := e.commit(ctx, w, shareKey(cs.cfg.Name), func(rs *RunState) { recordRun(rs, now, err, counts, sk) })
	if werr == nil {
		return err
	}
	werr = fmt.Errorf("sharing %q: %w", cs.cfg.Name, werr)
	if err != nil {
		werr = fmt.Errorf("%w; recording it failed too: %w", err, werr)
	}
	// Nothing of the share was stored: its entries go to the logger only,
	// its summary as a share that stopped, or that was not recorded (what
	// it pushed is pushed again).
	sum := &w.audits[len(w.audits)-1] // added above, last
	sum.Level = slog.LevelError
	if err == nil {
		sum.Message = "share not recorded: " + sum.Message
	}
	return e.notRecorded(ctx, w, cs.cfg.Name, now, werr, "check the store; nothing of this share was recorded, it runs again on the next cycle")
}

// auditErr audits err at error level and returns it.
func (e *Engine) auditErr(ctx context.Context, name string, now time.Time, err error, resolution string) error {
	e.audit(ctx, errEntry(name, now, err, resolution))
	return err
}

// errEntry is the audit entry of err, at error level.
func errEntry(name string, now time.Time, err error, resolution string) AuditEntry {
	return AuditEntry{Time: now, Level: slog.LevelError, Config: name, Message: err.Error(), Resolution: resolution}
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
	held := it.prev != nil && (it.prev.State == StateApplied || it.prev.State == StateSending && it.prev.Code == codeHeld)
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
	if it.prev != nil && (it.prev.State == StateRetryable || it.prev.State == StateSending || held && it.prev.Reason != "") {
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
//
// When the share was stopped (stopped: its context was cancelled), nothing
// counts as a failed attempt: a product's client may report the values it
// could not send as retryable rejections, and they are sent on the next run
// without a delay.
func (e *Engine) outcome(batch []item, res cte.PushResult, err error, now time.Time, stopped bool, rep *ShareReport) []LedgerEntry {
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
			out = append(out, e.failed(it, now, r.Retryable || full, r.Reason, r.Code, !(stopped && r.Retryable)))
			rep.reason(r.Reason)
			rep.countRefused(r)
			continue
		}
		if err == nil || accounted {
			out = append(out, LedgerEntry{Value: it.ind.Value, Type: it.ind.Type, State: StateApplied, Fingerprint: it.fp, At: now})
			rep.Applied++
			continue
		}
		// A cancelled share (the process stopping) is not the product's failure:
		// no delay, the next run sends it again.
		stopped := stopped || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
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

// byPriority orders items by priority.
func byPriority(a, b item) int { return priority(&a.ind, &b.ind) }

// priority orders indicators severity first, then the most recently seen,
// then value.
func priority(a, b *ioc.Indicator) int {
	if c := cmp.Compare(b.Severity, a.Severity); c != 0 {
		return c
	}
	if c := b.LastSeen.Compare(a.LastSeen); c != 0 {
		return c
	}
	return strings.Compare(a.Value, b.Value)
}
