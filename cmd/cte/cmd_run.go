package main

import (
	"context"
	"fmt"
	"slices"
)

func (a *app) cmdRun(ctx context.Context, args []string) int {
	if len(args) > 0 {
		return a.usageErr("run", "takes no arguments")
	}
	s, code := a.openSession(ctx, withSharing)
	if s == nil {
		return code
	}
	defer s.close()
	for _, p := range s.cfg.Plugins {
		if slices.Contains(sourceNames(s.cfg, a.reg), p.Name) {
			fmt.Fprintf(a.stderr, "cte: syncing %s every %s\n", p.Name, p.SyncInterval)
		}
	}
	fmt.Fprintln(a.stderr, "cte: running; press Ctrl-C (or send SIGTERM) to stop")
	if err := s.eng.Run(ctx); err != nil {
		return a.fail(err)
	}
	fmt.Fprintln(a.stderr, "cte: stopped")
	return exitOK
}
