package main

import (
	"context"
	"fmt"

	"github.com/ctexchange/cte/sharing"
)

type replayJSON struct {
	sharing.ShareReport
	Error string `json:"error,omitempty"`
}

// cmdReplay sends everything a sharing configuration selects again now, for a
// product that lost what it was given (the reference core makes operators edit
// "Last Run" or re-create the configuration for this).
func (a *app) cmdReplay(ctx context.Context, args []string) int {
	if code := a.checkSharingArg("replay", args); code != exitOK {
		return code
	}
	s, code := a.openSession(ctx, withSharing)
	if s == nil {
		return code
	}
	defer s.close()
	rep, err := s.eng.Share(ctx, args[0], sharing.WithReplay())
	s.observeShares(rep)
	if a.json {
		j := replayJSON{ShareReport: rep}
		if err != nil {
			j.Error = err.Error()
		}
		a.writeJSON(j)
	} else {
		fmt.Fprintf(a.stdout, "replay %s\n", shareLine(rep))
		for _, r := range sortedKeys(rep.Reasons) {
			fmt.Fprintf(a.stdout, "  not applied: %s: %d\n", r, rep.Reasons[r])
		}
	}
	if err != nil {
		return a.fail(err)
	}
	return exitOK
}
