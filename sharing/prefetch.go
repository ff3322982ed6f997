package sharing

// This file reads a plugin's pages one page ahead of the store: while a page
// is merged and committed (its fsync), the plugin fetches and parses the next.

import (
	"context"
	"fmt"
	"iter"
	"runtime/debug"

	"github.com/ctexchange/cte"
)

// pageAhead pulls from p in a goroutine of its own, one page ahead of the
// caller: the plugin reads the next page while the caller stores this one.
// Pages come in the plugin's order, and the plugin stops as it would alone: when
// the caller stops taking pages, its context is cancelled (a request under
// way ends) and pageAhead returns once Pull has. A page read ahead but not
// taken is dropped; its checkpoint was never stored, so the next pull reads it
// again. A panic of the plugin is raised again in the caller's goroutine, where
// a plugin's panic has always been.
func pageAhead(ctx context.Context, p cte.Plugin, from cte.Checkpoint) iter.Seq2[cte.Page, error] {
	return func(yield func(cte.Page, error) bool) {
		type next struct {
			page cte.Page
			err  error
		}
		ctx, cancel := context.WithCancel(ctx)
		pages := make(chan next) // unbuffered: the plugin holds the one page read ahead
		stop := make(chan struct{})
		var panicked any // set before pages is closed
		go func() {
			defer close(pages)
			defer func() {
				if v := recover(); v != nil {
					panicked = pluginPanic{v: v, stack: debug.Stack()}
				}
			}()
			for page, err := range p.Pull(ctx, from) {
				// Not ctx.Done: when the caller's context ends, what the
				// plugin yields (its error, or a page the caller fails to
				// store) still reaches the caller, which says why it stopped.
				select {
				case pages <- next{page, err}:
				case <-stop:
					return
				}
			}
		}()
		defer func() {
			close(stop)
			cancel()
			for range pages { // until Pull has returned
			}
			if panicked != nil {
				panic(panicked)
			}
		}()
		for n := range pages {
			if !yield(n.page, n.err) {
				return
			}
		}
	}
}

// pluginPanic is a plugin's panic in its pull goroutine, with that
// goroutine's stack, raised again in the caller's.
type pluginPanic struct {
	v     any
	stack []byte
}

func (p pluginPanic) String() string {
	return fmt.Sprintf("%v\n\nthe plugin's pull goroutine:\n%s", p.v, p.stack)
}
