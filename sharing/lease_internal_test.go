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
