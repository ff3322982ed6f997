package main

import (
	"context"
	"fmt"
	"iter"
	"sync"
	"time"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
)

// cliPlugin wraps a plugin for the command line: it remembers the targets the
// product listed, so one session asks each product once, and on a terminal it
// shows pull and push progress (pages, indicators, rate) on the status line.
type cliPlugin struct {
	cte.Plugin
	name string
	term progressSink // nil for none
	now  func() time.Time

	mu      sync.Mutex
	targets []cte.Target // nil until GetTargets succeeded
}

// progressSink shows progress: *terminal.
type progressSink interface {
	status(key, text string)
	done(key, line string)
}

// cliRetractor keeps the cte.Retractor ability of the wrapped plugin.
type cliRetractor struct {
	*cliPlugin
	r cte.Retractor
}

func (p cliRetractor) Retract(ctx context.Context, t cte.Target, in []ioc.Indicator) (cte.PushResult, error) {
	return p.r.Retract(ctx, t, in)
}

// wrapPlugin returns pl wrapped in a cliPlugin; progress goes to term unless it
// is nil.
func wrapPlugin(pl cte.Plugin, name string, term progressSink, now func() time.Time) cte.Plugin {
	cp := &cliPlugin{Plugin: pl, name: name, term: term, now: now}
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
		return nil, &targetsError{plugin: p.name, err: err}
	}
	if ts == nil {
		ts = []cte.Target{}
	}
	p.targets = ts
	return ts, nil
}

// ReadsPagesAhead is the wrapped plugin's (cte.PageAheadReader).
func (p *cliPlugin) ReadsPagesAhead() bool {
	r, ok := p.Plugin.(cte.PageAheadReader)
	return ok && r.ReadsPagesAhead()
}

func (p *cliPlugin) Pull(ctx context.Context, from cte.Checkpoint) iter.Seq2[cte.Page, error] {
	if p.term == nil {
		return p.Plugin.Pull(ctx, from)
	}
	return func(yield func(cte.Page, error) bool) {
		start := p.now()
		pages, n := 0, 0
		key := "pull " + p.name
		defer func() {
			line := ""
			if pages > 0 {
				line = fmt.Sprintf("%s: pulled %s, %s", p.name, plural(pages, "page"), plural(n, "indicator"))
			}
			p.term.done(key, line)
		}()
		for pg, err := range p.Plugin.Pull(ctx, from) {
			if err == nil {
				pages++
				n += len(pg.Indicators)
				rate := float64(n) / max(p.now().Sub(start).Seconds(), 0.001)
				p.term.status(key, fmt.Sprintf("%s: page %d, %s, %.0f indicators/s", p.name, pages, plural(n, "indicator"), rate))
			}
			if !yield(pg, err) {
				return
			}
		}
	}
}

func (p *cliPlugin) Push(ctx context.Context, t cte.Target, in []ioc.Indicator) (cte.PushResult, error) {
	if p.term == nil {
		return p.Plugin.Push(ctx, t, in)
	}
	key := "push " + p.name + " " + t.ID
	p.term.status(key, fmt.Sprintf("%s: sending %s to %s…", p.name, plural(len(in), "indicator"), t.ID))
	defer p.term.done(key, "")
	return p.Plugin.Push(ctx, t, in)
}

// targetsError is a failure of a product to list its targets.
type targetsError struct {
	plugin string
	err    error
}

func (e *targetsError) Error() string {
	return "list the targets of " + e.plugin + ": " + e.err.Error()
}
func (e *targetsError) Unwrap() error { return e.err }
