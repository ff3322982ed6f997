package main

import (
	"context"
	"fmt"

	"github.com/ctexchange/cte/sharing"
)

func (a *app) cmdSharing(ctx context.Context, args []string) int {
	if len(args) > 0 {
		return a.usageErr("sharing", "takes no arguments")
	}
	s, code := a.openSession(ctx, withSharing)
	if s == nil {
		return code
	}
	defer s.close()
	return a.printSharing(ctx, s.eng)
}

func (a *app) printSharing(ctx context.Context, eng *sharing.Engine) int {
	st, err := eng.Sharing(ctx)
	if err != nil {
		return a.fail(err)
	}
	pulls, err := eng.Pulls(ctx)
	if err != nil {
		return a.fail(err)
	}
	if a.json {
		return a.writeJSON(sharingJSON{Sharing: st, Pulls: pulls})
	}
	if len(st) == 0 {
		fmt.Fprintln(a.stdout, "no sharing configurations: add some under sharing: in the configuration file")
		return exitOK
	}
	tw := a.newTable()
	fmt.Fprintln(tw, "SHARING\tRULE\tSOURCE\tDESTINATION\tTARGET\tMODE\tLAST RUN\tAPPLIED\tREJECTED\tRETRY\tOVER CAP.\tRETRACTED")
	for _, x := range st {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\n", x.Name, x.Rule, x.Source, x.Destination, x.Target, modeText(x.Mode),
			a.when(x.LastRun), x.Applied, x.Rejected, x.Retryable, x.OverCapacity, x.Retracted)
	}
	_ = tw.Flush()
	for _, x := range st {
		if x.LastError != "" {
			fmt.Fprintf(a.stdout, "%s: last run failed: %s\n", x.Name, x.LastError)
		}
	}
	for _, p := range pulls {
		if p.LastError != "" {
			fmt.Fprintf(a.stdout, "%s: last pull (%s) incomplete after %s: %s\n", p.Source, a.when(p.LastRun), plural(p.Pages, "page"), p.LastError)
		}
	}
	return exitOK
}

// sharingJSON is "cte sharing --json": the sharing table and the last pull of
// each source.
type sharingJSON struct {
	Sharing []sharing.SharingStatus
	Pulls   []sharing.PullStatus
}
