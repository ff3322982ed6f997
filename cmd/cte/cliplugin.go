package main

import (
	"context"
	"fmt"
	"io"
	"iter"
	"sync"
	"time"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
)

// cliPlugin wraps a plugin for the command line: it remembers the targets the
// product listed, so one session asks each product once, and on a terminal it
// shows pull and push progress (pages, indicators, rate) on w.
type cliPlugin struct {
	cte.Plugin
	name string
	w    io.Writer // progress output; nil for none
	now  func() time.Time

	mu      sync.Mutex
	targets []cte.Target // nil until GetTargets succeeded
}

// cliRetractor keeps the cte.Retractor ability of the wrapped plugin.
type cliRetractor struct {
	*cliPlugin
	r cte.Retractor
}

func (p cliRetractor) Retract(ctx context.Context, t cte.Target, in []ioc.Indicator) (cte.PushResult, error) {
	return p.r.Retract(ctx, t, in)
}

// wrapPlugin returns pl wrapped in a cliPlugin; progress goes to w unless it is nil.
func wrapPlugin(pl cte.Plugin, name string, w io.Writer, now func() time.Time) cte.Plugin {
	cp := &cliPlugin{Plugin: pl, name: name, w: w, now: now}
	if r, ok := pl.(cte.Retractor); ok {
		return cliRetractor{cliPlugin: cp, r: r}
	}
	return cp
}

func (p *cliPlugin) GetTargets(ctx context.Context) ([]cte.Target, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.targets != nil {
		return p.targets, nil
	}
	ts, err := p.Plugin.GetTargets(ctx)
	if err != nil {
		return nil, err
	}
	if ts == nil {
		ts = []cte.Target{}
	}
	p.targets = ts
	return ts, nil
}

func (p *cliPlugin) Pull(ctx context.Context, from cte.Checkpoint) iter.Seq2[cte.Page, error] {
	if p.w == nil {
		return p.Plugin.Pull(ctx, from)
	}
	return func(yield func(cte.Page, error) bool) {
		start := p.now()
		pages, n := 0, 0
		defer func() {
			if pages > 0 {
				fmt.Fprintf(p.w, "\r\033[K%s: pulled %d pages, %d indicators\n", p.name, pages, n)
			}
		}()
		for pg, err := range p.Plugin.Pull(ctx, from) {
			if err == nil {
				pages++
				n += len(pg.Indicators)
				rate := float64(n) / max(p.now().Sub(start).Seconds(), 0.001)
				fmt.Fprintf(p.w, "\r\033[K%s: page %d, %d indicators, %.0f/s", p.name, pages, n, rate)
			}
			if !yield(pg, err) {
				return
			}
		}
	}
}

func (p *cliPlugin) Push(ctx context.Context, t cte.Target, in []ioc.Indicator) (cte.PushResult, error) {
	if p.w == nil {
		return p.Plugin.Push(ctx, t, in)
	}
	fmt.Fprintf(p.w, "\r\033[K%s: sending %d indicators to %s…", p.name, len(in), t.ID)
	res, err := p.Plugin.Push(ctx, t, in)
	fmt.Fprint(p.w, "\r\033[K")
	return res, err
}
