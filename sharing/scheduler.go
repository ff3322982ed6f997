package sharing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
)

// SyncReport says what one SyncSource did.
type SyncReport struct {
	Source     string
	Pages      int            // pages stored
	Indicators int            // indicators stored
	New        int            // values never stored before
	Added      int            // values stored before from another source, new for this source
	Updated    int            // values this source reported before
	Known      int            // of those, reports stored already by an earlier pull, re-read unchanged: not merged again
	Invalid    int            // values refused by the plugin or the engine, never stored
	Reasons    map[string]int // invalid values by reason
	Inactive   int            // indicators of the source that aged out
	Shares     []ShareReport  // one per sharing configuration of the source
	Deferred   []string       // sharing configurations whose target another instance held (Run shares them again soon)
	Took       time.Duration  // from the start of the pull to the end of the last share
	PullTook   time.Duration  // from the start of the pull to its last page stored
}

// SyncSource pulls a source from its stored checkpoint, storing each page and its
// checkpoint in one transaction, marks its expired indicators inactive, then
// shares for every sharing configuration of the source. A pull error keeps the
// pages stored before it and still shares them; errors are audited and returned
// joined. The options apply to every share (e.g. WithRetryNow).
func (e *Engine) SyncSource(ctx context.Context, source string, opts ...ShareOption) (SyncReport, error) {
	p, err := e.plugin(source)
	if err != nil {
		return SyncReport{Source: source}, err
	}
	if p.settings.PushOnly {
		return SyncReport{Source: source}, invalid(fmt.Errorf("sharing: sync %q: the plugin only receives indicators (push only): sync a plugin that pulls", source))
	}
	ctx, release, err := e.leaseSync(ctx, source)
	if err != nil {
		return SyncReport{Source: source}, err
	}
	defer release()
	start := e.now()
	rep, pullErr := e.pull(ctx, p)
	errs := []error{pullErr}
	if ctx.Err() == nil { // interrupted: no aging pass to fail and audit
		n, ageErr := e.ageSource(ctx, source)
		rep.Inactive = n
		errs = append(errs, ageErr)
	}
	for _, name := range e.configsOf(source) {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		sr, err := e.Share(ctx, name, opts...) // under the target's lease, or deferred
		if sr.Deferred {
			rep.Deferred = append(rep.Deferred, name)
		} else {
			rep.Shares = append(rep.Shares, sr)
		}
		errs = append(errs, err)
	}
	errs = append(errs, e.settleDeleted(ctx)) // deleted values retracted everywhere are forgotten
	rep.Took = e.now().Sub(start)
	return rep, errors.Join(errs...)
}

// pull stores the pages of one pull.
func (e *Engine) pull(ctx context.Context, p *pluginState) (SyncReport, error) {
	source := p.name
	rep := SyncReport{Source: source, Reasons: map[string]int{}}
	if err := p.pull.lock(ctx); err != nil {
		return rep, fmt.Errorf("sharing: pull %q: %w", source, err)
	}
	defer p.pull.unlock()
	examples := map[string]string{}
	start := e.now()
	var from cte.Checkpoint
	var rr *rereads
	var ver uint64 // the source's version after the last page stored
	stored := false
	err := e.store.View(ctx, func(tx Tx) error {
		var err error
		if from, err = tx.Checkpoint(source); err != nil {
			return err
		}
		if ver, err = tx.Version(source); err != nil {
			return err
		}
		m, ok, err := readMemo(tx, source, ver)
		rr = newRereads(m, ok)
		return err
	})
	if err == nil {
		for page, perr := range pages(ctx, p.p, from) {
			if perr != nil {
				err = fmt.Errorf("sharing: pull %q: %w", source, perr)
				break
			}
			for _, inv := range page.Invalid {
				rep.Invalid += inv.Count
				rep.Reasons[inv.Reason] += inv.Count
				if examples[inv.Reason] == "" {
					examples[inv.Reason] = inv.Example
				}
			}
			valid := checkPage(page.Indicators, &rep, examples)
			merge, known := rr.filter(valid)
			st, after, serr := e.storePage(ctx, p, storeMemo{valid: valid, merge: merge, want: ver}, page.Next)
			if serr != nil {
				err = fmt.Errorf("sharing: store a page of %q: %w", source, serr)
				break
			}
			if !st.memo {
				rr.taint() // another writer changed the source: every report was merged
				known = 0
			}
			ver = after
			rr.stored()
			stored = true
			e.recordsChanged()
			rep.Pages++
			rep.Indicators += len(valid)
			rep.New += st.New
			rep.Added += st.Added
			rep.Updated += st.Updated + known // a report known is one this source made before
			rep.Known += known
		}
	}
	rep.PullTook = e.now().Sub(start)
	logs := e.pullLogs(source, start, rep, examples, err)
	var memo func(tx Tx) error
	if stored {
		memo = func(tx Tx) error { return e.saveMemo(tx, source, rr, ver) }
	}
	e.endPull(ctx, source, start, err, map[string]int{"pages": rep.Pages, "indicators": rep.Indicators, "invalid": rep.Invalid}, logs, memo)
	return rep, err
}

// pullLogs returns the audit entries of a pull: what it stored, and how it
// ended when it failed or was interrupted.
func (e *Engine) pullLogs(source string, start time.Time, rep SyncReport, examples map[string]string, err error) []AuditEntry {
	d := details("pages", rep.Pages, "indicators", rep.Indicators, "new", rep.New, "added", rep.Added, "updated", rep.Updated, "invalid", rep.Invalid)
	if rep.Known > 0 {
		d["known"] = strconv.Itoa(rep.Known) // of the updated: re-read unchanged, not merged again
	}
	for r, n := range rep.Reasons {
		d["invalid: "+r] = fmt.Sprintf("%d (e.g. %s)", n, examples[r])
	}
	lvl, res := slog.LevelInfo, ""
	if rep.Invalid > 0 {
		lvl, res = slog.LevelWarn, "invalid values are never stored or shared; the product sent them malformed"
	}
	logs := []AuditEntry{{Time: start, Level: lvl, Config: source,
		Message: fmt.Sprintf("pulled %d indicator(s) in %d page(s) from %s (%d invalid)", rep.Indicators, rep.Pages, source, rep.Invalid),
		Details: d, Resolution: res}}
	switch {
	case err != nil && errors.Is(err, context.Canceled):
		// An operator's interrupt is not a failure of the product.
		logs = append(logs, AuditEntry{Time: e.now(), Level: slog.LevelInfo, Config: source,
			Message: fmt.Sprintf("pull of %s interrupted after %d page(s); it resumes after the last stored page", source, rep.Pages),
			Details: details("pages stored", rep.Pages)})
	case err != nil:
		logs = append(logs, AuditEntry{Time: e.now(), Level: slog.LevelError, Config: source, Message: err.Error(),
			Details:    details("pages stored", rep.Pages),
			Resolution: resolution(err, source) + "; the pull resumes after the last stored page"})
	}
	return logs
}

// endPull records the end of a pull in one Update: its audit entries, its
// run state and (memo, when the pull stored a page) the re-read memo. A
// store error is logged, as the pull itself is done; the entries are
// emitted on the logger either way.
func (e *Engine) endPull(ctx context.Context, source string, at time.Time, runErr error, counts map[string]int, logs []AuditEntry, memo func(Tx) error) {
	err := e.endPullTx(ctx, source, at, runErr, counts, logs, memo)
	if err != nil && memo != nil {
		// the memo is a cache: the audit entries and the run state must not
		// be lost with it (the next pull merges everything and writes another)
		err = e.endPullTx(ctx, source, at, runErr, counts, logs, nil)
	}
	for _, a := range logs {
		e.emit(ctx, a)
	}
	if err != nil {
		e.log.LogAttrs(ctx, slog.LevelError, "sharing: cannot store the end of a pull", slog.String("config", source), slog.String("error", err.Error()))
	}
}

func (e *Engine) endPullTx(ctx context.Context, source string, at time.Time, runErr error, counts map[string]int, logs []AuditEntry, memo func(Tx) error) error {
	return e.store.Update(context.WithoutCancel(ctx), func(tx Tx) error {
		for _, a := range logs {
			if err := tx.Log(a); err != nil {
				return err
			}
		}
		if err := putRun(tx, sourceKey(source), func(rs *RunState) { recordRun(rs, at, runErr, counts, skipState{}) }); err != nil {
			return err
		}
		if memo != nil {
			return memo(tx)
		}
		return nil
	})
}

// storeMemo is a page as the re-read memo sees it: valid, the page, and
// merge, what the memo does not know of it, valid while the source is at
// version want (nothing else wrote it since the memo, or the last page,
// was checked).
type storeMemo struct {
	valid, merge []ioc.Indicator
	want         uint64
}

// pageStats is what storing a page did: the Merge's counts, and whether the
// memo held (the source at its version: only the reports it does not know
// were merged; otherwise the whole page was).
type pageStats struct {
	MergeStats
	memo bool
}

// storePage stores one pulled page with its checkpoint, in one transaction,
// and keeps the source's aging record current. It returns the source's
// version once the page is stored.
func (e *Engine) storePage(ctx context.Context, p *pluginState, pg storeMemo, next cte.Checkpoint) (pageStats, uint64, error) {
	now := e.now()
	var st pageStats
	var after uint64
	err := e.store.Update(ctx, func(tx Tx) error {
		before, err := tx.Version(p.name)
		if err != nil {
			return err
		}
		valid := pg.valid
		if st.memo = before == pg.want; st.memo {
			valid = pg.merge
		}
		unshared, err := neverShareAdded(tx, p.name, valid)
		if err != nil {
			return err
		}
		if st.MergeStats, err = tx.Merge(p.name, valid, now); err != nil {
			return err
		}
		if err := lowerAging(tx, p.name, p.settings.aging(), before, valid, now); err != nil {
			return err
		}
		if st.Added > unshared {
			if err := countOverlap(tx, p.name, now); err != nil {
				return err
			}
		}
		if after, err = tx.Version(p.name); err != nil {
			return err
		}
		if len(next) == 0 {
			return nil
		}
		return tx.SetCheckpoint(p.name, next)
	})
	return st, after, err
}

// neverShareAdded counts the never-share values of in (the empty-file hashes,
// found in every feed) that another source reported and source did not: a
// Merge counts them Added, yet no sharing configuration selects them, so they
// do not count as overlaps (see countOverlap).
func neverShareAdded(tx Tx, source string, in []ioc.Indicator) (int, error) {
	var seen map[string]bool
	n := 0
	for i := range in {
		v := in[i].Value
		if !neverShare(in[i].Type, v) || seen[v] {
			continue
		}
		if seen == nil {
			seen = map[string]bool{}
		}
		seen[v] = true
		r, ok, err := tx.Record(v)
		if err != nil {
			return 0, err
		}
		if _, has := r.Entry(source); ok && !has {
			n++
		}
	}
	return n, nil
}

// maxValueLen is the longest value the stores keep; a longer one would make the
// whole page fail to store, again on every pull.
const maxValueLen = 16 << 10

// checkPage returns a page's indicators normalised, without those that are not
// valid indicators (counted in rep by reason). It copies only when it changes
// something: the plugin's slice is never modified.
//
// A plugin yields normal values (see package ioc, "Who checks what"); this is
// the engine's defence against one that does not, so a normal value costs one
// ioc.IsNormal pass and only the others are parsed, to normalise them or learn
// why they are invalid.
func checkPage(in []ioc.Indicator, rep *SyncReport, examples map[string]string) []ioc.Indicator {
	var out []ioc.Indicator // nil while nothing changed
	for i := range in {
		textOK := plainText(in[i].Comments) && allPlainText(in[i].Tags)
		if textOK && len(in[i].Value) <= maxValueLen && ioc.IsNormal(in[i].Type, in[i].Value) {
			if out != nil {
				out = append(out, in[i])
			}
			continue
		}
		ind := in[i]
		if !textOK {
			cleanText(&ind)
		}
		v, reason := ind.Value, ""
		switch {
		case len(ind.Value) > maxValueLen:
			reason = fmt.Sprintf("value longer than %d bytes", maxValueLen)
		case !ind.Type.Valid():
			reason = fmt.Sprintf("unknown type %d", ind.Type)
		default:
			var err error
			if v, err = ioc.Parse(ind.Type, ind.Value); err != nil {
				reason = ioc.Reason(err)
			} else if len(v) > maxValueLen {
				// Normalising can lengthen a value (percent-encoding).
				reason = fmt.Sprintf("value longer than %d bytes", maxValueLen)
			}
		}
		if out == nil && (reason != "" || v != ind.Value || !textOK) {
			out = make([]ioc.Indicator, i, len(in))
			copy(out, in[:i])
		}
		if reason != "" {
			rep.Invalid++
			rep.Reasons[reason]++
			if examples[reason] == "" {
				examples[reason] = clipValue(ind.Value)
			}
			continue
		}
		if out != nil {
			ind.Value = v
			out = append(out, ind)
		}
	}
	if out == nil {
		return in
	}
	return out
}

// plainText reports whether s is valid UTF-8 without a NUL byte: text every
// store keeps as it is (PostgreSQL refuses both in a text column, which would
// fail the page at every pull).
func plainText(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == 0 || c >= utf8.RuneSelf {
			return !strings.ContainsRune(s, 0) && utf8.ValidString(s)
		}
	}
	return true
}

func allPlainText(ss []string) bool {
	for _, s := range ss {
		if !plainText(s) {
			return false
		}
	}
	return true
}

// cleanText makes the comments and tags of ind plain text: invalid UTF-8
// becomes U+FFFD and NUL bytes are dropped (the value itself is checked as a
// value). The tags slice is copied: it may be the plugin's.
func cleanText(ind *ioc.Indicator) {
	clean := func(s string) string {
		if plainText(s) {
			return s
		}
		return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	}
	ind.Comments = clean(ind.Comments)
	if !allPlainText(ind.Tags) {
		tags := make([]string, len(ind.Tags))
		for i, t := range ind.Tags {
			tags[i] = clean(t)
		}
		ind.Tags = tags
	}
}

// Run syncs every plugin with a SyncInterval on that interval, each source in its
// own goroutine, starting at once, until ctx is cancelled; then it waits for the
// running syncs to stop and returns nil. Errors are audited, never fatal. Plugins
// and configurations added while Run runs are used from their source's next sync,
// but a plugin added after Run started is not scheduled. An interval under
// MinSyncInterval works but is audited as a warning. Run also prunes the audit
// log (PruneLogs) when it starts and then every LogPruneInterval.
//
// When the store is a Leaser (shared by several instances), Run syncs a
// source only while it holds the source's lease, taking free sources up to its
// fair share of them among the live instances, and shares to a target only
// under the target's lease; see Leaser and WithInstance.
func (e *Engine) Run(ctx context.Context) error {
	return e.RunNotify(ctx, nil)
}

// RunNotify is Run, calling done (when not nil) after each sync with its
// report, its error and when the source syncs next. done is called from the
// source's goroutine: calls for different sources may overlap.
func (e *Engine) RunNotify(ctx context.Context, done func(rep SyncReport, err error, next time.Time)) error {
	type sched struct {
		name  string
		every time.Duration
	}
	e.mu.RLock()
	var ss []sched
	for n, p := range e.plugins {
		if p.settings.SyncInterval > 0 && !p.settings.PushOnly {
			ss = append(ss, sched{n, p.settings.SyncInterval})
		}
	}
	e.mu.RUnlock()
	if len(ss) == 0 {
		return errors.New("sharing: Run: no plugin has a sync interval: set SourceSettings.SyncInterval of the sources")
	}
	slices.SortFunc(ss, func(a, b sched) int { return strings.Compare(a.name, b.name) })
	var wg sync.WaitGroup
	if l := e.leaser(); l != nil {
		e.renewAll(ctx, l) // registered before the first sync counts the instances
		wg.Go(func() { e.heartbeat(ctx, l) })
	}
	if e.logKeep > 0 {
		wg.Go(func() {
			t := time.NewTicker(LogPruneInterval)
			defer t.Stop()
			for {
				_, _ = e.PruneLogs(ctx) // audited
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					if ctx.Err() != nil {
						return
					}
				}
			}
		})
	}
	for _, s := range ss {
		if s.every < MinSyncInterval {
			e.audit(ctx, AuditEntry{Level: slog.LevelWarn, Config: s.name,
				Message:    fmt.Sprintf("sync interval %s of %s is under %s", s.every, s.name, MinSyncInterval),
				Resolution: "short intervals load the product and its rate limits for little gain; use 5 minutes or more"})
		}
		wg.Go(func() {
			t := time.NewTicker(s.every)
			defer t.Stop()
			for {
				rep, ran, err := e.syncLeased(ctx, s.name, len(ss)) // audited
				if ran && done != nil && ctx.Err() == nil {
					done(rep, err, e.now().Add(s.every))
				}
				e.retryDeferred(ctx, rep.Deferred, s.every)
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		})
	}
	wg.Wait()
	if l := e.leaser(); l != nil {
		e.releaseAll(l) // another instance takes the sources over at once
	}
	return nil
}

// retryDeferred shares again the configurations whose target another
// instance held during a sync, so that a share does not wait a whole interval
// (and two instances syncing on the same beat do not defer the same share
// again and again). It waits a quarter of the lease time, doubling after each
// try, and gives up when the next sync (within) is nearer than the wait.
func (e *Engine) retryDeferred(ctx context.Context, names []string, within time.Duration) {
	wait := max(e.leases.ttl/4, time.Second)
	for len(names) > 0 && wait < within {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		within -= wait
		wait *= 2
		var left []string
		for _, name := range names {
			if sr, _ := e.Share(ctx, name); sr.Deferred { // audited
				left = append(left, name)
			}
		}
		names = left
	}
}

// PullStatus is the last pull of one source: when it ran, when it last
// completed, and why the last one did not (a pull that stops early, e.g. on a
// repeated page token, stores what it got and fails with an error).
type PullStatus struct {
	Source     string
	LastRun    time.Time // zero before the first pull
	LastOK     time.Time
	LastError  string // of the last pull; empty when it completed
	Pages      int    // stored by the last pull
	Indicators int
	Invalid    int
}

// pullSources returns the names of the plugins that pull, sorted.
func (e *Engine) pullSources() []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	var names []string
	for n, p := range e.plugins {
		if !p.settings.PushOnly {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// Pulls lists the last pull of each plugin that pulls, by name.
func (e *Engine) Pulls(ctx context.Context) ([]PullStatus, error) {
	names := e.pullSources()
	out := make([]PullStatus, 0, len(names))
	err := e.store.View(ctx, func(tx Tx) error {
		for _, n := range names {
			rs, _, err := tx.RunState(sourceKey(n))
			if err != nil {
				return err
			}
			out = append(out, PullStatus{Source: n, LastRun: rs.LastRun, LastOK: rs.LastOK, LastError: rs.LastError,
				Pages: rs.Counts["pages"], Indicators: rs.Counts["indicators"], Invalid: rs.Counts["invalid"]})
		}
		return nil
	})
	return out, err
}

// errorLevel is the audit level of a failed pull or push: INFO when an
// operator stopped it (a cancelled context is an interrupt, not a failure of
// the product), ERROR otherwise.
func errorLevel(err error) slog.Level {
	if errors.Is(err, context.Canceled) {
		return slog.LevelInfo
	}
	return slog.LevelError
}
