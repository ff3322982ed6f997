package sharing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
)

// Engine routes indicators from source plugins to destination targets through
// business rules, keeping everything it must not lose in a Store.
//
// A host registers plugins (AddPlugin), business rules (AddRule) and sharing
// configurations (AddSharing), then either calls Run, which syncs every source on
// its own interval, or drives the steps itself:
//
//   - SyncSource pulls a source from its stored checkpoint. Each page is merged
//     into the store together with its checkpoint in one transaction, so a crash
//     never loses an acknowledged page. Then it marks the source's expired
//     indicators inactive and calls Share for every configuration of the source.
//   - Share selects the active indicators of the configuration's source that match
//     its rule and no exception, of the types the target accepts, leaving out the
//     never-share values (ioc.NeverShare) and anything one of whose sources is the
//     destination itself (loop prevention). An Append target gets only what the
//     ledger does not show as applied with the same fingerprint (type, value,
//     severity, comments, tags; not lastSeen, so re-reports are not re-sent), in
//     the target's batch size; a Replace target gets the whole desired set packed
//     into its limits by priority, and only when it differs from what was last
//     applied. Every outcome is recorded in the ledger: applied, rejected for good
//     (until the indicator changes), retryable (retried with a growing delay),
//     over capacity, retracted.
//     Several configurations may share a target: a Replace target then holds the
//     union of their selections. A value an Append target was given stays there
//     when the rule later stops matching it; only inactive indicators are
//     retracted. Loop prevention is strict: once the destination itself reports a
//     value, the value is not sent to it again, and a Replace list drops it.
//   - Age marks indicators inactive when their source's aging period or their own
//     expiry has passed, and retracts them from Append targets whose plugin
//     implements cte.Retractor (unless another configuration of the target still
//     shares them); Replace targets drop them on their next push.
//   - Plan is a dry run of Share, Explain says why a value is or is not shared.
//   - The indicator actions (actions.go) are what an operator does to values:
//     MarkSafe takes a false positive out of sharing (never shared while
//     marked, whichever source reports it; retracted from every Append target
//     that has it and dropped from Replace lists), AddIndicators stores values
//     by hand as ManualSource, Tag and Untag edit tags, Delete removes records
//     (retracted as MarkSafe does). Every selection asks one predicate of the
//     marks. With ApplyNow the shares concerned run at once; otherwise on the
//     next sync. List pages through the stored records for a console.
//
// Every pull, share, retraction and error is an AuditEntry in the store and a
// record on the injected *slog.Logger; Logs reads them back.
//
// An Engine is safe for concurrent use. At most one pull per source and one share
// per sharing configuration run at a time, and pushes to one target are serialised;
// with a Leaser store, across every instance sharing it (see Leaser).
type Engine struct {
	store      Store
	log        *slog.Logger
	now        func() time.Time
	guardShare float64
	guardMin   int
	retryBase  time.Duration
	retryMax   time.Duration
	logKeep    time.Duration // audit retention; 0 keeps everything
	leases     leaseState    // with a Leaser store: see lease.go

	listGen atomic.Uint64 // bumped when records change (recordsChanged)
	lists   listCache     // the last sorted listing (List)

	mu      sync.RWMutex
	plugins map[string]*pluginState
	rules   map[string]*CompiledRule
	configs map[string]*configState
	targets map[string]waitLock  // by destination and target ID
	waits   map[string]time.Time // by destination and target ID: no push before (a rate-limited product asked)
}

type pluginState struct {
	name     string
	p        cte.Plugin
	settings SourceSettings
	pull     waitLock // one pull at a time
}

type configState struct {
	cfg    Config
	target cte.Target // only its ID until known
	known  bool       // target is what the destination listed, in this process or before (stored)
	listed bool       // the destination listed it in this process
	share  waitLock   // one share at a time
}

// Option configures an Engine.
type Option func(*Engine)

// WithLogger sends audit entries and debug lines to l; nil keeps the discarding
// default.
func WithLogger(l *slog.Logger) Option {
	return func(e *Engine) {
		if l != nil {
			e.log = l
		}
	}
}

// WithClock sets the clock; nil keeps time.Now.
func WithClock(now func() time.Time) Option {
	return func(e *Engine) {
		if now != nil {
			e.now = now
		}
	}
}

// WithGuardrail sets when Share refuses a Replace push: when it would remove, for
// reasons other than aging or expiry, more than share (0 to 1) of an applied list
// holding at least minApplied values. The default is 0.5 of at least 20. A share of 1 or more disables the guardrail; 0
// (or less) refuses any removal.
func WithGuardrail(share float64, minApplied int) Option {
	return func(e *Engine) {
		e.guardShare = max(share, 0)
		e.guardMin = max(minApplied, 1)
	}
}

// WithRetryBackoff sets the delay before a retryable rejection is tried again:
// base after the first failure, doubling with each further one, at most max. The
// default is 1 minute up to 6 hours; the delay is a floor, as retries happen on the
// source's next sync after it.
func WithRetryBackoff(base, max time.Duration) Option {
	return func(e *Engine) {
		if base > 0 {
			e.retryBase = base
		}
		if max >= e.retryBase {
			e.retryMax = max
		}
	}
}

// DefaultLogRetention is how long audit entries are kept unless
// WithLogRetention says otherwise.
const DefaultLogRetention = 90 * 24 * time.Hour

// LogPruneInterval is how often Run deletes the audit entries older than the
// log retention (once when it starts, then on this interval).
const LogPruneInterval = 24 * time.Hour

// WithLogRetention sets how long audit entries are kept: Run and PruneLogs
// delete those older than d. The default is DefaultLogRetention (90 days); 0
// keeps everything. A negative d makes New fail.
func WithLogRetention(d time.Duration) Option {
	return func(e *Engine) { e.logKeep = d }
}

// New returns an Engine keeping its state in s.
func New(s Store, opts ...Option) (*Engine, error) {
	if s == nil {
		return nil, errors.New("sharing: New: nil store: pass a memstore or boltstore")
	}
	e := &Engine{
		store:      s,
		log:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		now:        time.Now,
		guardShare: 0.5,
		guardMin:   20,
		retryBase:  time.Minute,
		retryMax:   6 * time.Hour,
		logKeep:    DefaultLogRetention,
		plugins:    map[string]*pluginState{},
		rules:      map[string]*CompiledRule{},
		configs:    map[string]*configState{},
		targets:    map[string]waitLock{},
		waits:      map[string]time.Time{},
	}
	for _, o := range opts {
		if o != nil {
			o(e)
		}
	}
	if e.logKeep < 0 {
		return nil, fmt.Errorf("sharing: New: log retention %s is negative; give how long to keep audit entries (e.g. 2160h for 90 days) or 0 to keep them all", e.logKeep)
	}
	return e, nil
}

// AddPlugin registers a configured plugin under name, the configuration name
// that indicators from it carry as their Source. Adding a name again replaces the
// plugin and its settings.
func (e *Engine) AddPlugin(name string, p cte.Plugin, s SourceSettings) error {
	if strings.TrimSpace(name) == "" {
		return errors.New("sharing: AddPlugin: empty name: give the plugin configuration a name")
	}
	if p == nil {
		return fmt.Errorf("sharing: AddPlugin %q: nil plugin", name)
	}
	if s.SyncInterval < 0 || s.Aging < 0 {
		return fmt.Errorf("sharing: AddPlugin %q: negative sync interval or aging: use a positive duration, or 0 for the default", name)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	l := newWaitLock()
	if old := e.plugins[name]; old != nil {
		l = old.pull // a pull of the replaced plugin may still run
	}
	e.plugins[name] = &pluginState{name: name, p: p, settings: s, pull: l}
	return nil
}

// AddRule compiles r and registers it under r.Name, replacing a rule of that
// name: sharing configurations use the new version from their next share on, so
// muting or unmuting a rule is AddRule with Muted changed.
func (e *Engine) AddRule(r Rule) error {
	if strings.TrimSpace(r.Name) == "" {
		return errors.New("sharing: AddRule: empty name: give the rule a name")
	}
	c, err := CompileRule(r)
	if err != nil {
		return fmt.Errorf("sharing: AddRule: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rules[r.Name] = c
	return nil
}

// AddSharing validates c and registers it, replacing a configuration of the same
// name. It does no I/O: the source must be a registered plugin that can pull (or
// ManualSource), the destination a registered plugin and the rule registered.
// The target is looked up when the configuration first shares (or by
// CheckTarget): the destination's GetTargets must list c.Target, and the rule
// must be able to match a type it accepts. The target found is kept in the
// store, so Plan, Explain and Sharing work later with the destination offline.
// Several configurations may share a target: a Replace target then holds the
// union of what they select, packed together. A new configuration shares the
// existing matching active indicators of its source on its first Share. A name
// added again with another destination or target starts its ledger again on its
// next share, so everything it selects reaches the new target; the old target
// keeps what it was given.
func (e *Engine) AddSharing(_ context.Context, c Config) error {
	if err := c.check(); err != nil {
		return err
	}
	where := fmt.Sprintf("sharing %q", c.Name)
	if c.Source == ManualSource {
		e.addManual()
	}
	e.mu.RLock()
	src, srcOK := e.plugins[c.Source]
	dst, dstOK := e.plugins[c.Destination]
	_, ruleOK := e.rules[c.Rule]
	e.mu.RUnlock()
	switch {
	case !srcOK:
		return fmt.Errorf("%s: source %q is not a configured plugin: add it first", where, c.Source)
	case src.settings.PushOnly:
		return fmt.Errorf("%s: source %q cannot pull: choose a plugin that pulls indicators", where, c.Source)
	case !dstOK:
		return fmt.Errorf("%s: destination %q is not a configured plugin: add it first", where, c.Destination)
	case dst.name == ManualSource:
		return fmt.Errorf("%s: destination %q cannot push: it only holds indicators added by hand", where, c.Destination)
	case !ruleOK:
		return fmt.Errorf("%s: rule %q is not defined: add the rule first", where, c.Rule)
	case c.Source == c.Destination:
		return fmt.Errorf("%s: source and destination are both %q: indicators are never pushed back to the product they came from", where, c.Source)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	l := newWaitLock()
	if old := e.configs[c.Name]; old != nil {
		l = old.share // a share of the replaced configuration may still run
	}
	e.configs[c.Name] = &configState{cfg: c, target: cte.Target{ID: c.Target}, share: l}
	return nil
}

// boundTo names the destination and target of a configuration as its
// AppliedSet records them.
func (cs *configState) boundTo() string { return cs.cfg.Destination + " " + cs.target.ID }

// boundElsewhere returns the target the ledger of cs is about when it is not
// cs's own: the configuration was moved and has not shared since.
func boundElsewhere(tx Tx, cs *configState) (string, error) {
	set, ok, err := tx.AppliedSet(cs.cfg.Name)
	if err != nil || !ok || set.Target == "" || set.Target == cs.boundTo() {
		return "", err
	}
	return set.Target, nil
}

// bind records which destination and target the ledger of cs is about. When the
// configuration shared to another one before (the same name in an edited
// configuration), its ledger and applied set start again: they describe the old
// target, and would keep everything from the new one. The caller holds the share
// lock.
func (e *Engine) bind(ctx context.Context, cs *configState) error {
	c, to := cs.cfg, cs.boundTo()
	now := e.now()
	var bound bool
	err := e.store.View(ctx, func(tx Tx) error { // the usual case writes nothing
		set, ok, err := tx.AppliedSet(c.Name)
		bound = ok && set.Target == to
		return err
	})
	if bound {
		return nil
	}
	var was string
	if err == nil {
		err = e.store.Update(ctx, func(tx Tx) error {
			was = ""
			set, ok, err := tx.AppliedSet(c.Name)
			switch {
			case err != nil:
				return err
			case ok && set.Target == to:
				return nil
			case !ok || set.Target == "": // new, or stored before targets were kept
				set.Target = to
				return tx.PutAppliedSet(c.Name, set)
			}
			was = set.Target
			n, err := resetLedger(tx, c.Name, to, "the configuration moved to "+to, now)
			if n == 0 && set.Digest == "" {
				was = "" // it never shared anything there: nothing to say
			}
			return err
		})
	}
	if err != nil {
		return e.auditErr(ctx, c.Name, now, fmt.Errorf("sharing %q: record its target: %w", c.Name, err),
			"check the store; the share is retried on the next cycle")
	}
	if was == "" {
		return nil
	}
	e.audit(ctx, AuditEntry{Time: now, Level: slog.LevelWarn, Config: c.Name,
		Message:    fmt.Sprintf("sharing %q now shares to %s (was %s): its ledger starts again and everything it selects is shared there", c.Name, to, was),
		Resolution: "what was shared to the old target stays there; remove it by hand if it should go"})
	return nil
}

// resetLedger starts the ledger of a configuration again: every entry not already
// retracted is recorded retracted with reason, so the next share treats the values
// as never sent, and the applied set is emptied (keeping its target, to). It
// returns how many entries it reset.
func resetLedger(tx Tx, name, to, reason string, now time.Time) (int, error) {
	var reset []LedgerEntry
	err := tx.LedgerEntries(name, func(le *LedgerEntry) error {
		if le.State != StateRetracted {
			reset = append(reset, LedgerEntry{Value: le.Value, Type: le.Type, State: StateRetracted,
				Fingerprint: le.Fingerprint, Reason: reason, At: now})
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if err := tx.PutLedger(name, reset); err != nil {
		return 0, err
	}
	return len(reset), tx.PutAppliedSet(name, AppliedSet{Target: to, At: now})
}

func typeList(ts []ioc.Type) string {
	if len(ts) == 0 {
		return "no type"
	}
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.String()
	}
	return strings.Join(s, ", ")
}

// Configs returns the sharing configurations, sorted by name.
func (e *Engine) Configs() []Config {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]Config, 0, len(e.configs))
	for _, c := range e.configs {
		out = append(out, c.cfg)
	}
	slices.SortFunc(out, func(a, b Config) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Targets returns the targets of a registered plugin, as its GetTargets lists them.
func (e *Engine) Targets(ctx context.Context, plugin string) ([]cte.Target, error) {
	p, err := e.plugin(plugin)
	if err != nil {
		return nil, err
	}
	ts, err := p.p.GetTargets(ctx)
	if err != nil {
		return nil, fmt.Errorf("sharing: targets of %q: %w", plugin, err)
	}
	return ts, nil
}

func (e *Engine) plugin(name string) (*pluginState, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	p, ok := e.plugins[name]
	if !ok {
		return nil, notFound(fmt.Errorf("sharing: plugin %q is not configured", name))
	}
	return p, nil
}

// config returns a sharing configuration with its rule and plugins.
func (e *Engine) config(name string) (*configState, *CompiledRule, *pluginState, *pluginState, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	c, ok := e.configs[name]
	if !ok {
		return nil, nil, nil, nil, notFound(fmt.Errorf("sharing: sharing configuration %q is not defined", name))
	}
	r, ok := e.rules[c.cfg.Rule]
	if !ok {
		return nil, nil, nil, nil, fmt.Errorf("sharing %q: rule %q is not defined", name, c.cfg.Rule)
	}
	src, ok := e.plugins[c.cfg.Source]
	if !ok {
		return nil, nil, nil, nil, fmt.Errorf("sharing %q: source %q is not configured", name, c.cfg.Source)
	}
	dst, ok := e.plugins[c.cfg.Destination]
	if !ok {
		return nil, nil, nil, nil, fmt.Errorf("sharing %q: destination %q is not configured", name, c.cfg.Destination)
	}
	return c, r, src, dst, nil
}

// configsOf returns the names of the sharing configurations of a source, sorted.
func (e *Engine) configsOf(source string) []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	var out []string
	for n, c := range e.configs {
		if c.cfg.Source == source {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

func (e *Engine) targetLock(dest, target string) waitLock {
	e.mu.Lock()
	defer e.mu.Unlock()
	key := dest + "\x00" + target
	m := e.targets[key]
	if m == nil {
		m = newWaitLock()
		e.targets[key] = m
	}
	return m
}

// pushWait returns until when a target must not be pushed to: a rate-limited
// product asked to wait.
func (e *Engine) pushWait(dest, target string) time.Time {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.waits[dest+"\x00"+target]
}

// holdPushes records that a rate-limited product asked to wait until until.
func (e *Engine) holdPushes(dest, target string, until time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	key := dest + "\x00" + target
	if until.After(e.waits[key]) {
		e.waits[key] = until
	}
}

// waitLock is a mutex whose waiters give up when their context ends. (It is a
// channel, which also lets testing/synctest see waiters as durably blocked.)
type waitLock chan struct{}

func newWaitLock() waitLock { return make(waitLock, 1) }

func (l waitLock) lock(ctx context.Context) error {
	select {
	case l <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l waitLock) unlock() { <-l }

// SharingStatus is a sharing configuration with its last run and what its
// ledger holds.
type SharingStatus struct {
	Config
	Mode         cte.Mode
	LastRun      time.Time // zero before the first share
	LastOK       time.Time
	LastError    string
	Applied      int // values the target holds
	Rejected     int // refused for good until they change
	Retryable    int // waiting for a retry
	OverCapacity int
	Retracted    int
}

// Sharing lists the sharing configurations with their last run and ledger counts.
func (e *Engine) Sharing(ctx context.Context) ([]SharingStatus, error) {
	cfgs := e.Configs()
	for _, c := range cfgs {
		_, _ = e.resolve(ctx, c.Name, false) // the mode of the stored target, if any
	}
	out := make([]SharingStatus, 0, len(cfgs))
	err := e.store.View(ctx, func(tx Tx) error {
		for _, c := range cfgs {
			st := SharingStatus{Config: c}
			e.mu.RLock()
			if cs := e.configs[c.Name]; cs != nil {
				st.Mode = cs.target.Mode
			}
			e.mu.RUnlock()
			rs, ok, err := tx.RunState(shareKey(c.Name))
			if err != nil {
				return err
			}
			if ok {
				st.LastRun, st.LastOK, st.LastError = rs.LastRun, rs.LastOK, rs.LastError
			}
			replace := st.Mode == cte.Replace
			err = tx.LedgerEntries(c.Name, func(le *LedgerEntry) error {
				switch le.State {
				case StateApplied:
					st.Applied++
				case StateRejected:
					st.Rejected++
				case StateRetryable, StateSending:
					st.Retryable++
				case StateOverCapacity:
					if !replace {
						st.OverCapacity++
					}
				case StateRetracted:
					st.Retracted++
				}
				return nil
			})
			if err != nil {
				return err
			}
			if replace {
				// What the list leaves out has no ledger entry of its own
				// (see overEntries): the last share counted it.
				st.OverCapacity = rs.Counts["overCapacity"]
			}
			out = append(out, st)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sharing: status: %w", err)
	}
	return out, nil
}

func cloneRecord(r *Record) Record {
	c := Record{Type: r.Type, Value: r.Value, Entries: slices.Clone(r.Entries)}
	for i := range c.Entries {
		c.Entries[i].Tags = slices.Clone(c.Entries[i].Tags)
	}
	return c
}

func shareKey(config string) string  { return "sharing/" + config }
func sourceKey(source string) string { return "source/" + source }
