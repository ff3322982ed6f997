package fake_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/ctexchange/cte/internal/fake"
)

func TestGateRelease(t *testing.T) {
	t.Parallel()
	g := fake.NewGate(2)
	errc := make(chan error, 2)
	for range 2 {
		go func() { errc <- g.Wait(t.Context(), nil) }()
	}
	<-g.Arrived()
	<-g.Arrived()
	select {
	case err := <-errc:
		t.Fatalf("Wait returned %v before Release", err)
	default:
	}
	g.Release()
	g.Release() // twice is fine
	assert.NoError(t, <-errc)
	assert.NoError(t, <-errc)
	// A request arriving after Release passes at once.
	assert.NoError(t, g.Wait(t.Context(), nil))
}

func TestGateClientGivesUp(t *testing.T) {
	t.Parallel()
	g := fake.NewGate(1)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- g.Wait(ctx, nil) }()
	<-g.Arrived()
	cancel()
	assert.ErrorIs(t, <-errc, context.Canceled)
}

func TestGateClosing(t *testing.T) {
	t.Parallel()
	g := fake.NewGate(1)
	closing := make(chan struct{})
	errc := make(chan error, 1)
	go func() { errc <- g.Wait(t.Context(), closing) }()
	<-g.Arrived()
	close(closing)
	assert.ErrorIs(t, <-errc, fake.ErrClosed)
}

// More arrivals than the gate buffers do not block the handlers.
func TestGateArrivalsBeyondBuffer(t *testing.T) {
	t.Parallel()
	for _, n := range []int{-1, 0, 1} {
		g := fake.NewGate(n)
		g.Release()
		for range 3 {
			assert.NoError(t, g.Wait(t.Context(), nil))
		}
		assert.Len(t, g.Arrived(), 1, "NewGate(%d) buffers one arrival", n)
	}
}
