package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ctexchange/cte/sharing"
)

func (a *app) cmdRun(ctx context.Context, args []string) int {
	if len(args) > 0 {
		return a.usageErr("run", "takes no arguments")
	}
	if code := a.checkRunFlags(); code != exitOK {
		return code
	}
	s, code := a.openSession(ctx, withSharing)
	if s == nil {
		return code
	}
	defer s.close()
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	con, waitConsole, code := a.startConsole(ctx, s)
	if con == nil {
		return code
	}
	defer waitConsole()
	defer stop() // the servers stop before the store closes
	pulled := s.cfg.pulled(a.reg)
	if len(pulled) == 0 {
		fmt.Fprintf(a.stderr, "cte: nothing to run: no plugin is the source of a sharing configuration in %s; add one under sharing:, or pull: true to a plugin\n", s.cfg.Path)
		return exitUsage
	}
	for _, p := range s.cfg.Plugins {
		if slices.Contains(pulled, p.Name) {
			fmt.Fprintf(a.stderr, "cte: syncing %s every %s\n", p.Name, p.SyncInterval)
		}
	}
	fmt.Fprintln(a.stderr, "cte: running; press Ctrl-C (or send SIGTERM) to stop")
	notify := func(rep sharing.SyncReport, err error, next time.Time) {
		con.ObserveSync(rep, err, next)
		if a.term != nil {
			// On a terminal the log shows warnings only: say what each cycle did.
			fmt.Fprintln(a.stderr, a.cycleLine(rep, err, next))
		}
	}
	if err := s.eng.RunNotify(ctx, notify); err != nil {
		return a.fail(err)
	}
	fmt.Fprintln(a.stderr, "cte: stopped")
	return exitOK
}

// cycleLine is the one line "cte run" prints per sync on a terminal, e.g.
//
//	12:00:05 mimecast: pulled 3 indicators in 1 page (3 new, 0 updated); mimecast-to-netskope: 3 sent, 3 applied; next sync 12:05:05
func (a *app) cycleLine(rep sharing.SyncReport, err error, next time.Time) string {
	parts := []string{fmt.Sprintf("%s %s: %s", a.now().Format(time.TimeOnly), rep.Source, pullSummary(rep))}
	for _, sh := range rep.Shares {
		p := fmt.Sprintf("%s: %d sent, %d applied", sh.Config, sh.Sent, sh.Applied)
		if n := sh.Retrying + sh.Waiting; n > 0 {
			p += fmt.Sprintf(", %d to retry", n)
		}
		if sh.Rejected > 0 {
			p += fmt.Sprintf(", %d rejected", sh.Rejected)
		}
		parts = append(parts, p)
	}
	if errs := errorsOf(err); len(errs) > 0 {
		parts = append(parts, plural(len(errs), "error")+" (cte logs --level error)")
	}
	parts = append(parts, "next sync "+next.Format(time.TimeOnly))
	return strings.Join(parts, "; ")
}
