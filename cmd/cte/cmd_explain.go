package main

import (
	"context"
	"fmt"
	"strings"
)

func (a *app) cmdExplain(ctx context.Context, args []string) int {
	if len(args) != 1 || strings.TrimSpace(args[0]) == "" {
		return a.usageErr("explain", "needs one indicator value, e.g. a SHA256 hash")
	}
	s, code := a.openSession(ctx, withSharing)
	if s == nil {
		return code
	}
	defer s.close()
	ex, err := s.eng.Explain(ctx, args[0])
	if err != nil {
		return a.fail(err)
	}
	if a.json {
		if code := a.writeJSON(ex); code != exitOK {
			return code
		}
		return foundCode(ex.Found)
	}
	w := a.stdout
	if !ex.Found {
		// Like grep finding nothing: a script can test for it.
		fmt.Fprintf(w, "%s: not stored; no source has reported it\n", ex.Value)
		return exitFailure
	}
	fmt.Fprintf(w, "%s (%s)\n", ex.Value, ex.Type)
	for _, src := range ex.Sources {
		state := "active"
		if !src.Active {
			state = "inactive: " + src.Why
		}
		fmt.Fprintf(w, "  from %s: %s, severity %s, last seen %s", src.Source, state, src.Severity, a.when(src.LastSeen))
		if len(src.Tags) > 0 {
			fmt.Fprintf(w, ", tags %s", strings.Join(src.Tags, ","))
		}
		fmt.Fprintln(w)
	}
	for _, d := range ex.Sharing {
		fmt.Fprintf(w, "  %s → %s %s: %s: %s\n", d.Config, d.Destination, d.Target, sharedText(d.Shared), d.Why)
		if d.Ledger != nil {
			fmt.Fprintf(w, "    last outcome: %s at %s", d.Ledger.State, a.when(d.Ledger.At))
			if d.Ledger.Reason != "" {
				fmt.Fprintf(w, " (%s)", d.Ledger.Reason)
			}
			fmt.Fprintln(w)
		}
	}
	return exitOK
}

// foundCode is exitOK for a value that is stored and exitFailure for one that
// is not.
func foundCode(found bool) int {
	if found {
		return exitOK
	}
	return exitFailure
}
