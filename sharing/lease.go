package sharing

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// Leaser is an optional Store capability for stores that several engines (cte
// instances, usually on several machines) share, such as sharing/store/pgstore.
// When the Store given to New implements it, Run pulls a source only while it
// holds the source's lease, and every push or retraction to a target (a share
// by Run, Share, a replay, an indicator action applied now, Age's retractions)
// happens only while this instance holds the target's lease, so each source is
// pulled and each target pushed by one instance at a time. Work that finds the
// target's lease held by another instance waits for the next sync (audited;
// ShareReport.Deferred). Stores of one process (memstore, boltstore) do not
// implement it and need no leases.
//
// Fencing: Update must refuse to commit, with an error wrapping ErrLeaseLost,
// when a lease carried by its context (LeasesFrom) is no longer held by its
// holder with its token, so an instance that stalled past its lease's expiry
// cannot write after another took the lease over.
type Leaser interface {
	// Acquire takes the lease name for holder until ttl from now, or renews it
	// when holder holds it already (keeping its token). It returns ok false,
	// and no error, while another holder's lease has not expired.
	Acquire(ctx context.Context, name, holder string, ttl time.Duration) (l Lease, ok bool, err error)
	// Release ends l now, when it is still held with l's token.
	Release(ctx context.Context, l Lease) error
	// Leases lists the unexpired leases whose names start with prefix, by name.
	Leases(ctx context.Context, prefix string) ([]Lease, error)
}

// Lease is a lease on a name held by a holder until Expires.
type Lease struct {
	Name    string
	Holder  string
	Token   int64     // fencing token: grows whenever the lease changes hands or is taken after expiring
	Expires time.Time // by the store's clock
}

// ErrLeaseLost is wrapped by the error of an Update whose context carries a
// lease the instance no longer holds.
var ErrLeaseLost = errors.New("sharing: lease lost: another instance took over")

type leasesKey struct{}

// WithLeases returns a context carrying leases in addition to those ctx carries:
// a Leaser store's Update under it commits only while they are all held.
func WithLeases(ctx context.Context, ls ...Lease) context.Context {
	all := append(slices.Clone(LeasesFrom(ctx)), ls...)
	return context.WithValue(ctx, leasesKey{}, all)
}

// LeasesFrom returns the leases ctx carries.
func LeasesFrom(ctx context.Context) []Lease {
	ls, _ := ctx.Value(leasesKey{}).([]Lease)
	return ls
}

// DefaultLeaseTTL is how long a lease lasts without renewal unless
// WithInstance says otherwise: an instance that dies holds its sources and
// targets for at most this long.
const DefaultLeaseTTL = 30 * time.Second

// WithInstance names this engine among those sharing a Leaser store (the
// default is host name, process id and a random suffix) and sets the lease time
// (DefaultLeaseTTL when ttl <= 0). A stopped instance's sources are taken over
// within one sync interval plus ttl. Stores without leases ignore it.
func WithInstance(name string, ttl time.Duration) Option {
	return func(e *Engine) {
		if name != "" {
			e.leases.instance = name
		}
		if ttl > 0 {
			e.leases.ttl = ttl
		}
	}
}

// Instance returns the name this engine holds leases under.
func (e *Engine) Instance() string {
	e.leases.init()
	return e.leases.instance
}

// leaseState is what an engine knows of its leases. The zero value is ready:
// init fills the defaults.
type leaseState struct {
	once     sync.Once
	instance string
	ttl      time.Duration
	mu       sync.Mutex
	held     map[string]Lease    // by name
	users    map[string]waitLock // by target lease name: one share of this instance holds it at a time
	// uses counts, by lease name, the holds (hold) working under a lease
	// now, and runs the source leases Run owns (takeSource): a lease is
	// released when its last hold ends and Run does not own it, and Run
	// does not shed one a hold uses. A sync now (the console's, a host's)
	// of a source Run held released the lease as it ended, and Run's own
	// sync then pulled without it, beside another instance's.
	uses map[string]int
	runs map[string]bool
}

// userLock returns the lock that serialises this instance's shares to one
// target, so that they take and release its lease in turn.
func (s *leaseState) userLock(name string) waitLock {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.users[name]
	if l == nil {
		l = newWaitLock()
		s.users[name] = l
	}
	return l
}

func (s *leaseState) init() {
	s.once.Do(func() {
		if s.instance == "" {
			host, _ := os.Hostname()
			var b [4]byte
			_, _ = rand.Read(b[:])
			s.instance = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
		}
		if s.ttl <= 0 {
			s.ttl = DefaultLeaseTTL
		}
		s.mu.Lock()
		s.held = map[string]Lease{}
		s.users = map[string]waitLock{}
		s.uses = map[string]int{}
		s.runs = map[string]bool{}
		s.mu.Unlock()
	})
}

// HeldLeases returns the leases this engine holds now (its instance lease
// while Run runs, its sources' and the targets it is pushing to), by
// name (empty for a store without leases).
func (e *Engine) HeldLeases() []Lease {
	e.leases.init()
	e.leases.mu.Lock()
	defer e.leases.mu.Unlock()
	out := make([]Lease, 0, len(e.leases.held))
	for _, l := range e.leases.held {
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b Lease) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Lease names.
const (
	leaseInstance = "instance/"
	leaseSource   = "source/"
	leaseTarget   = "target/"
)

// leaser returns the store's leases, or nil.
func (e *Engine) leaser() Leaser {
	l, _ := e.store.(Leaser)
	if l != nil {
		e.leases.init()
	}
	return l
}

// heartbeat keeps this instance's lease and the source leases it holds alive
// until ctx ends (Run releases them once its syncs have stopped).
func (e *Engine) heartbeat(ctx context.Context, l Leaser) {
	t := time.NewTicker(e.leases.ttl / 3)
	defer t.Stop()
	for {
		e.renewAll(ctx, l)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (e *Engine) renewAll(ctx context.Context, l Leaser) {
	self := leaseInstance + e.leases.instance
	names := []string{self}
	for _, h := range e.HeldLeases() {
		if strings.HasPrefix(h.Name, leaseSource) {
			names = append(names, h.Name) // target leases are renewed by the share holding them
		}
	}
	for _, name := range names {
		e.leases.mu.Lock()
		h, had := e.leases.held[name]
		e.leases.mu.Unlock()
		if !had && name != self {
			continue // given up since the list was read
		}
		nl, ok, err := l.Acquire(ctx, name, e.leases.instance, e.leases.ttl)
		e.leases.mu.Lock()
		switch {
		case err != nil:
			// keep it: the write fencing refuses writes if it is really gone
			if ctx.Err() == nil {
				e.log.Warn("lease: renew", "lease", name, "error", err)
			}
		case !ok || (name != self && nl.Token != h.Token):
			delete(e.leases.held, name) // lost: another instance has it now
			delete(e.leases.runs, name)
		default:
			e.leases.held[name] = nl
		}
		e.leases.mu.Unlock()
	}
}

// releaseAll releases this instance's leases when Run stops, so that
// another instance takes its sources and targets over at once. It releases
// every lease the store says this instance holds, not only those
// it knows it holds: an Acquire cut off by the stop (or a dropped
// connection) may have taken a lease, its answer lost, and such a lease
// would keep the other instances off its source or target until it
// expired.
func (e *Engine) releaseAll(l Leaser) {
	release := func(ctx context.Context, h Lease) {
		if err := l.Release(ctx, h); err != nil {
			e.log.Warn("lease: release", "lease", h.Name, "error", err)
		}
	}
	// Those it knows first, on their own time: a store that cannot answer
	// the list (the dropped connection above) must not use it up.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	held := e.HeldLeases()
	for _, h := range held {
		release(ctx, h)
	}
	lctx, lcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer lcancel()
	if all, err := l.Leases(lctx, ""); err != nil {
		e.log.Warn("lease: list this instance's leases to release them", "error", err)
	} else {
		for _, x := range all {
			if x.Holder == e.leases.instance && !slices.ContainsFunc(held, func(h Lease) bool { return h.Name == x.Name && h.Token == x.Token }) {
				release(lctx, x)
			}
		}
	}
	e.leases.mu.Lock()
	clear(e.leases.held)
	clear(e.leases.runs)
	e.leases.mu.Unlock()
}

// takeSource returns the lease of source when this instance holds it or may
// take it now: it takes a free source only while it holds fewer than its fair
// share of the total sources among the live instances.
func (e *Engine) takeSource(ctx context.Context, l Leaser, source string, total int) (Lease, bool) {
	name := leaseSource + source
	e.leases.mu.Lock()
	h, holding := e.leases.held[name]
	n := e.sourceLeases()
	e.leases.mu.Unlock()
	if !holding && n >= e.fairShare(ctx, l, total) {
		return Lease{}, false
	}
	nl, ok, err := l.Acquire(ctx, name, e.leases.instance, e.leases.ttl)
	e.leases.mu.Lock()
	defer e.leases.mu.Unlock()
	if err != nil || !ok || (holding && nl.Token != h.Token) {
		delete(e.leases.held, name)
		delete(e.leases.runs, name)
		if err != nil && ctx.Err() == nil {
			e.log.Warn("lease: acquire", "lease", name, "error", err)
		}
		if !ok || err != nil {
			return Lease{}, false
		}
	}
	e.leases.held[name] = nl
	e.leases.runs[name] = true
	return nl, true
}

// sourceLeases counts the source leases held (e.leases.mu held).
func (e *Engine) sourceLeases() int {
	n := 0
	for name := range e.leases.held {
		if strings.HasPrefix(name, leaseSource) {
			n++
		}
	}
	return n
}

// fairShare is how many of total sources one instance takes: total divided by
// the live instances, rounded up.
func (e *Engine) fairShare(ctx context.Context, l Leaser, total int) int {
	live, err := l.Leases(ctx, leaseInstance)
	if err != nil || len(live) == 0 {
		return total
	}
	return (total + len(live) - 1) / len(live)
}

// shedSource gives a source up after its sync when this instance holds more
// than its fair share, so that an instance that joined later gets work.
func (e *Engine) shedSource(ctx context.Context, l Leaser, lease Lease, total int) {
	e.leases.mu.Lock()
	n := e.sourceLeases()
	e.leases.mu.Unlock()
	if n <= e.fairShare(ctx, l, total) {
		return
	}
	e.leases.mu.Lock()
	delete(e.leases.runs, lease.Name)
	if e.leases.uses[lease.Name] > 0 {
		e.leases.mu.Unlock()
		return // a sync now works under it: its end releases it
	}
	delete(e.leases.held, lease.Name)
	e.leases.mu.Unlock()
	if err := l.Release(ctx, lease); err != nil && ctx.Err() == nil {
		e.log.Warn("lease: release", "lease", lease.Name, "error", err)
	}
}

// syncLeased is one scheduled sync of source: with a Leaser store, only under
// the source's lease (and skipped, ran false, when another instance holds it).
func (e *Engine) syncLeased(ctx context.Context, source string, total int) (rep SyncReport, ran bool, err error) {
	l := e.leaser()
	if l == nil {
		rep, err = e.SyncSource(ctx, source) // audited
		return rep, true, err
	}
	lease, ok := e.takeSource(ctx, l, source, total)
	if !ok {
		return SyncReport{Source: source}, false, nil
	}
	rep, err = e.SyncSource(WithLeases(ctx, lease), source) // audited
	e.shedSource(ctx, l, lease, total)
	return rep, true, err
}

// targetLease is the name of the lease of a configuration's target.
func targetLease(cs *configState) string {
	return leaseTarget + cs.cfg.Destination + "/" + cs.target.ID
}

// leaseTarget is the one door to a target for every path that pushes or
// retracts (Share, and through it the scheduler, a replay and the indicator
// actions; the lifecycle's retractions): with a Leaser store it takes the
// lease of cs's target before any other lock, unless ctx carries it already,
// and returns ctx carrying it (renewed while held, for fencing) and release,
// to call when done. When another instance holds the lease, ok is false and
// the deferral is audited: what (a share, a retraction) waits for the next
// sync. Without a Leaser it does nothing.
func (e *Engine) leaseTarget(ctx context.Context, cs *configState, what string) (_ context.Context, release func(), ok bool, err error) {
	l := e.leaser()
	name := targetLease(cs)
	if l == nil || carries(ctx, name) {
		return ctx, func() {}, true, nil
	}
	users := e.leases.userLock(name) // this instance's users of the lease take it in turn
	if err := users.lock(ctx); err != nil {
		return ctx, nil, false, fmt.Errorf("sharing %q: %w", cs.cfg.Name, err)
	}
	lease, got, err := l.Acquire(ctx, name, e.leases.instance, e.leases.ttl)
	if err != nil || !got {
		users.unlock()
		if err != nil {
			return ctx, nil, false, fmt.Errorf("sharing %q: take the lease of target %s: %w", cs.cfg.Name, name, err)
		}
		e.auditDeferred(ctx, l, cs, name, what)
		return ctx, nil, false, nil
	}
	hctx, stop := e.hold(ctx, l, lease)
	return hctx, func() { stop(); users.unlock() }, true, nil
}

// auditDeferred records that what, for cs, waits for the next sync because
// another instance holds the lease of its target.
func (e *Engine) auditDeferred(ctx context.Context, l Leaser, cs *configState, name, what string) {
	holder := "another cte instance"
	if ls, err := l.Leases(ctx, name); err == nil {
		for _, x := range ls {
			if x.Name == name {
				holder = "cte instance " + x.Holder
			}
		}
	}
	e.audit(ctx, AuditEntry{Level: slog.LevelInfo, Config: cs.cfg.Name,
		Message:    fmt.Sprintf("%s deferred to the next sync: %s is pushing to %s %s (lease %s)", what, holder, cs.cfg.Destination, cs.target.ID, name),
		Details:    details("lease", name, "holder", holder, "deferred", what),
		Resolution: "none needed: it runs on the next sync, once the target is free"})
}

// lockTarget takes this engine's lock of cs's target for a push or a
// retraction. With a Leaser store ctx must carry the target's lease (see
// leaseTarget): a path that did not take it is refused, so nothing reaches a
// target another instance pushes to.
func (e *Engine) lockTarget(ctx context.Context, cs *configState) (unlock func(), err error) {
	if e.leaser() != nil && !carries(ctx, targetLease(cs)) {
		return nil, fmt.Errorf("sharing %q: push to %s %s without its lease %s: refused (a bug: report it)", cs.cfg.Name, cs.cfg.Destination, cs.target.ID, targetLease(cs))
	}
	tl := e.targetLock(cs.cfg.Destination, cs.target.ID)
	if err := tl.lock(ctx); err != nil {
		return nil, err
	}
	return tl.unlock, nil
}

// hold records lease as held and renews it while the returned context lives;
// the context carries it for fencing and ends when it is lost. stop ends the
// renewal and releases the lease.
func (e *Engine) hold(ctx context.Context, l Leaser, lease Lease) (context.Context, func()) {
	e.leases.mu.Lock()
	e.leases.held[lease.Name] = lease
	e.leases.uses[lease.Name]++
	e.leases.mu.Unlock()
	hctx, cancel := context.WithCancel(WithLeases(ctx, lease))
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(e.leases.ttl / 3)
		defer t.Stop()
		// Renewals that fail (the database out of reach) keep the work
		// going only until the lease may have run out: past that, another
		// instance may have it, and the product-side work (a push, a
		// Netskope "next" that moves the tenant's cursor) is no longer
		// this instance's to do, even though the fencing would refuse its
		// writes.
		deadline := time.Now().Add(e.leases.ttl)
		for {
			select {
			case <-hctx.Done():
				return
			case <-t.C:
				nl, ok, err := l.Acquire(hctx, lease.Name, e.leases.instance, e.leases.ttl)
				if err == nil && (!ok || nl.Token != lease.Token) {
					e.log.Warn("lease: lost while working; stopping", "lease", lease.Name, "instance", e.leases.instance)
					cancel()
					return
				}
				if err != nil && !time.Now().Before(deadline) && hctx.Err() == nil {
					e.log.Warn("lease: not renewed before it ran out; stopping", "lease", lease.Name, "instance", e.leases.instance, "error", err)
					cancel()
					return
				}
				if err == nil {
					deadline = time.Now().Add(e.leases.ttl)
				}
				if err == nil {
					// renewed: its new expiry is what HeldLeases (and the
					// console's lease expiry gauge) says
					e.leases.mu.Lock()
					if h, ok := e.leases.held[lease.Name]; ok && h.Token == nl.Token {
						e.leases.held[lease.Name] = nl
					}
					e.leases.mu.Unlock()
				}
			}
		}
	}()
	return hctx, func() {
		cancel()
		<-done
		e.leases.mu.Lock()
		e.leases.uses[lease.Name]--
		last := e.leases.uses[lease.Name] <= 0
		if last {
			delete(e.leases.uses, lease.Name)
		}
		keep := !last || e.leases.runs[lease.Name] // another hold, or Run, works under it
		if !keep {
			delete(e.leases.held, lease.Name)
		}
		e.leases.mu.Unlock()
		if keep {
			return
		}
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer rcancel()
		if err := l.Release(rctx, lease); err != nil {
			e.log.Warn("lease: release", "lease", lease.Name, "error", err)
		}
	}
}

// carries reports whether ctx carries a lease named name.
func carries(ctx context.Context, name string) bool {
	return slices.ContainsFunc(LeasesFrom(ctx), func(l Lease) bool { return l.Name == name })
}

// leaseSync takes the lease of source for a sync not started by Run (cte sync),
// unless ctx carries it already. It fails when another instance holds it.
func (e *Engine) leaseSync(ctx context.Context, source string) (context.Context, func(), error) {
	l := e.leaser()
	name := leaseSource + source
	if l == nil || carries(ctx, name) {
		return ctx, func() {}, nil
	}
	e.leases.init()
	e.leases.mu.Lock()
	h, held := e.leases.held[name]
	e.leases.mu.Unlock()
	if held {
		// this instance holds it (Run, or another sync now): work under it,
		// renewed meanwhile; the last to end releases it
		hctx, stop := e.hold(ctx, l, h)
		return hctx, stop, nil
	}
	lease, ok, err := l.Acquire(ctx, name, e.leases.instance, e.leases.ttl)
	if err != nil {
		return ctx, nil, fmt.Errorf("sharing: sync %q: take its lease: %w", source, err)
	}
	if !ok {
		return ctx, nil, fmt.Errorf("sharing: sync %q: another cte instance is syncing it (lease %s): let it, or stop that instance first", source, name)
	}
	hctx, stop := e.hold(ctx, l, lease)
	return hctx, stop, nil
}
