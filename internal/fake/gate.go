package fake

import (
	"context"
	"errors"
	"sync"
)

// ErrClosed is what Gate.Wait returns when the server closed while the
// request was held.
var ErrClosed = errors.New("fake: server closed")

// Gate holds stalled requests; see Server.Stall of the fakes.
type Gate struct {
	arrived chan struct{}
	release chan struct{}
	once    sync.Once
}

// NewGate returns a gate for n stalled requests: Arrived buffers n arrivals
// (at least one) without blocking the handlers.
func NewGate(n int) *Gate {
	return &Gate{arrived: make(chan struct{}, max(n, 1)), release: make(chan struct{})}
}

// Arrived delivers one value per request that reached the gate.
func (g *Gate) Arrived() <-chan struct{} { return g.arrived }

// Release lets every held request, present and future, proceed. It is safe to
// call more than once.
func (g *Gate) Release() { g.once.Do(func() { close(g.release) }) }

// Wait announces a request on Arrived (dropping the signal when the buffer is
// full) and holds it until the gate is released (nil), ctx is done (ctx's
// error: the client gave up) or closing is closed (ErrClosed). A nil closing
// never closes.
func (g *Gate) Wait(ctx context.Context, closing <-chan struct{}) error {
	select {
	case g.arrived <- struct{}{}:
	default:
	}
	select {
	case <-g.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-closing:
		return ErrClosed
	}
}
