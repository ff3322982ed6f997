package sharing

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
)

// leaserStub is a Store with leases whose transactions are never run: enough
// for the lock that guards a push.
type leaserStub struct{}

func (leaserStub) View(context.Context, func(Tx) error) error   { panic("not used") }
func (leaserStub) Update(context.Context, func(Tx) error) error { panic("not used") }
func (leaserStub) Close() error                                 { return nil }
func (leaserStub) Acquire(context.Context, string, string, time.Duration) (Lease, bool, error) {
	panic("not used")
}
func (leaserStub) Release(context.Context, Lease) error            { panic("not used") }
func (leaserStub) Leases(context.Context, string) ([]Lease, error) { panic("not used") }

// With a Leaser store, the lock every push and retraction takes refuses a
// caller that does not carry the target's lease, so no future path can push
// without it; with the lease (or without a Leaser) it locks.
func TestLockTargetNeedsTheLease(t *testing.T) {
	t.Parallel()
	cs := &configState{cfg: Config{Name: "c", Destination: "dst"}, target: cte.Target{ID: "list"}}
	e := &Engine{store: leaserStub{}, targets: map[string]waitLock{}}
	_, err := e.lockTarget(t.Context(), cs)
	require.EqualError(t, err, `sharing "c": push to dst list without its lease target/dst/list: refused (a bug: report it)`)

	ctx := WithLeases(t.Context(), Lease{Name: "target/dst/list", Holder: "me", Token: 1})
	unlock, err := e.lockTarget(ctx, cs)
	require.NoError(t, err)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = e.lockTarget(cancelled, cs)
	assert.ErrorIs(t, err, context.Canceled, "held: a second locker waits until its context ends")
	unlock()
	unlock2, err := e.lockTarget(ctx, cs)
	require.NoError(t, err)
	unlock2()
}

// releases is a Leaser that says two instances live and records releases.
type releases struct {
	leaserStub
	released []string
}

func (r *releases) Leases(context.Context, string) ([]Lease, error) {
	return []Lease{{Name: "instance/a"}, {Name: "instance/b"}}, nil
}

func (r *releases) Release(_ context.Context, l Lease) error {
	r.released = append(r.released, l.Name)
	return nil
}

// TestShedSourceKeepsALeaseInUse: Run sheds a source it holds beyond its
// fair share, but not while a sync now works under that lease: it leaves it
// to that sync's end, which releases it. Shed then, the sync now went on
// without its lease.
func TestShedSourceKeepsALeaseInUse(t *testing.T) {
	t.Parallel()
	l := &releases{}
	e := &Engine{store: l}
	e.leases.init()
	s1, s2 := Lease{Name: "source/s1", Token: 1}, Lease{Name: "source/s2", Token: 1}
	e.leases.held[s1.Name], e.leases.held[s2.Name] = s1, s2
	e.leases.runs[s1.Name], e.leases.runs[s2.Name] = true, true
	e.leases.uses[s1.Name] = 1          // a sync now works under s1
	e.shedSource(t.Context(), l, s1, 2) // a fair share of 1 of 2 sources
	assert.Empty(t, l.released, "in use: kept")
	assert.Contains(t, e.HeldLeases(), s1)
	assert.False(t, e.leases.runs[s1.Name], "Run no longer owns it: the sync's end releases it")
	e.shedSource(t.Context(), l, s2, 2) // held by Run alone
	assert.Equal(t, []string{"source/s2"}, l.released)
}
