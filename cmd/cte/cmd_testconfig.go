package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
)

func (a *app) testFlags(fs *flag.FlagSet) {
	fs.IntVar(&a.f.days, "days", 0, "only indicators fetched in the last `N` days (default: all stored)")
	fs.StringVar(&a.f.value, "value", "", "also say why indicator `V` is or is not shared by this configuration")
}

func (a *app) cmdTest(ctx context.Context, args []string) int {
	if a.f.days < 0 {
		return a.usageErr("test", "--days %d: write a number of days, 0 for everything stored", a.f.days)
	}
	if code := a.checkSharingArg("test", args); code != exitOK {
		return code
	}
	s, code := a.openSession(ctx, withSharing)
	if s == nil {
		return code
	}
	defer s.close()
	p, err := s.eng.Plan(ctx, args[0], time.Duration(a.f.days)*24*time.Hour)
	if err != nil {
		return a.fail(err)
	}
	why, err := a.valueDecision(ctx, s, args[0])
	if err != nil {
		return a.fail(err)
	}
	if a.json {
		return a.writeJSON(struct {
			sharing.PlanReport
			Value *sharing.SharingDecision `json:"valueDecision,omitempty"`
		}{p, why})
	}
	a.printPlan(p)
	if why != nil {
		fmt.Fprintf(a.stdout, "  %s: %s: %s\n", a.f.value, sharedText(why.Shared), why.Why)
	}
	return exitOK
}

// valueDecision says why --value is or is not shared by the sharing config, or
// returns nil when --value is not set.
func (a *app) valueDecision(ctx context.Context, s *session, config string) (*sharing.SharingDecision, error) {
	if a.f.value == "" {
		return nil, nil
	}
	ex, err := s.eng.Explain(ctx, a.f.value)
	if err != nil {
		return nil, err
	}
	why := &sharing.SharingDecision{Config: config, Why: "not stored: no source has reported it"}
	for _, d := range ex.Sharing {
		if d.Config == config {
			why = &d
		}
	}
	return why, nil
}

// printPlan writes the dry run p as text.
func (a *app) printPlan(p sharing.PlanReport) {
	w := a.stdout
	window := "every stored indicator"
	if p.Window > 0 {
		window = fmt.Sprintf("indicators fetched in the last %d days", a.f.days)
	}
	fmt.Fprintf(w, "Dry run of %s → %s %s (%s), over %s. Nothing is sent.\n", p.Config, p.Destination, p.Target, p.Mode, window)
	if p.Muted {
		fmt.Fprintln(w, "The rule is muted: a share would send nothing. Counts below are what it would do unmuted.")
	}
	fmt.Fprintf(w, "  matched:        %d", p.Matched)
	if len(p.ByType) > 0 {
		var parts []string
		for _, t := range ioc.Types() {
			if c, ok := p.ByType[t]; ok {
				parts = append(parts, fmt.Sprintf("%s %d, %s", t, c.Count, byteSize(c.Bytes)))
			}
		}
		fmt.Fprintf(w, " (%s)", strings.Join(parts, "; "))
	}
	fmt.Fprintln(w)
	rows := []struct {
		label string
		n     int
	}{{"new", p.New}, {"changed", p.Changed}, {"retry", p.Retry}, {"unchanged", p.Unchanged}, {"rejected", p.Rejected},
		{"waiting", p.Waiting}, {"over capacity", p.OverCapacity}, {"to retract", p.ToRetract}}
	for _, r := range rows {
		fmt.Fprintf(w, "  %-15s %d\n", r.label+":", r.n)
	}
	if p.Mode == cte.Replace {
		fmt.Fprintf(w, "  list size:      %s\n", byteSize(p.Bytes))
		if p.Window == 0 {
			fmt.Fprintf(w, "  would push:     %s\n", yesNo(p.WouldPush))
			if p.Guardrail {
				fmt.Fprintln(w, "  guardrail:      the push would remove most of the list and would be refused")
			}
		}
	}
	for _, k := range sortedKeys(p.Excluded) {
		fmt.Fprintf(w, "  left out: %s: %d\n", k, p.Excluded[k])
	}
	if len(p.Sample) > 0 {
		fmt.Fprintln(w, "  sample:")
		for _, it := range p.Sample {
			fmt.Fprintf(w, "    %-13s %-7s %s\n", it.Action, it.Type, it.Value)
		}
	}
}
