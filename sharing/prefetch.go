package sharing

// This file reads a plugin's pages one page ahead of the store, when the
// plugin allows it (cte.PageAheadReader): while a page is merged and
// committed (its fsync), the plugin fetches and parses the next.

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"runtime/debug"

	"github.com/ctexchange/cte"
)

// pages returns p's pages from a pull from checkpoint from: read one page
// ahead when p allows it, else one after the other, the next asked for once
// the caller stored the one before.
func pages(ctx context.Context, p cte.Plugin, from cte.Checkpoint) iter.Seq2[cte.Page, error] {
	if r, ok := p.(cte.PageAheadReader); ok && r.ReadsPagesAhead() {
		return pageAhead(ctx, p, from)
	}
	return p.Pull(ctx, from)
}

// errPullExited is a plugin's pull goroutine that ended without returning.
var errPullExited = errors.New("the plugin's pull ended without returning (runtime.Goexit), a bug in the plugin: the pages it gave before are kept")

// pageAhead pulls from p in a goroutine of its own, one page ahead of the
// caller: the plugin reads the next page while the caller stores this one.
// Pages come in the plugin's order, and the plugin stops as it would alone:
// when the caller stops taking pages, the plugin's next yield returns false
// and its context is cancelled (a request under way ends); pageAhead returns
// once Pull has. A page read ahead but not taken is dropped; its checkpoint
// was never stored, so the next pull reads it again. A panic of the plugin is
// raised again in the caller's goroutine, where a plugin's panic has always
// been; a pull goroutine that exits without returning (runtime.Goexit) ends
// the pull with errPullExited, not as a complete pull.
func pageAhead(ctx context.Context, p cte.Plugin, from cte.Checkpoint) iter.Seq2[cte.Page, error] {
	return func(yield func(cte.Page, error) bool) {
		type next struct {
			page cte.Page
			err  error
		}
		ctx, cancel := context.WithCancel(ctx)
		ahead := make(chan next) // unbuffered: the plugin holds the one page read ahead
		stop := make(chan struct{})
		done := make(chan struct{}) // Pull has ended
		// set before ahead and done are closed: the plugin's panic, or that
		// Pull returned (neither: runtime.Goexit)
		var panicked any
		returned := false
		go func() {
			defer close(done)
			defer close(ahead)
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
				case ahead <- next{page, err}:
				case <-stop:
					returned = true
					return
				}
			}
			returned = true
		}()
		defer func() {
			close(stop)
			cancel()
			// Wait, not take pages: with no one taking them, the plugin's next
			// yield returns false, where a page taken here would tell it to go on.
			<-done
			if panicked != nil {
				panic(panicked)
			}
		}()
		for n := range ahead {
			if !yield(n.page, n.err) {
				return
			}
		}
		if !returned && panicked == nil {
			yield(cte.Page{}, errPullExited)
		}
	}
}

// pluginPanic is a plugin's panic in its pull goroutine, with that
// goroutine's stack, raised again in the caller's.
type pluginPanic struct {
	v     any
	stack []byte
}

// Error makes the panic an error, so that a host recovering it can reach the
// plugin's own error value (Unwrap).
func (p pluginPanic) Error() string { return p.String() }

// Unwrap returns the plugin's panic value when it is an error.
func (p pluginPanic) Unwrap() error {
	err, _ := p.v.(error)
	return err
}

func (p pluginPanic) String() string {
	return fmt.Sprintf("%v\n\nthe plugin's pull goroutine:\n%s", p.v, p.stack)
}
