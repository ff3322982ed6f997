package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/rule"
)

func (a *app) iocsFlags(fs *flag.FlagSet) {
	fs.StringVar(&a.f.filter, "filter", "", "`QUERY` in the rule language, e.g. 'type == sha256 and severity >= high'")
	fs.IntVar(&a.f.limit, "limit", 50, "show at most `N` indicators (0: all)")
	fs.BoolVar(&a.f.stix, "stix", false, "write the active indicators as a STIX 2.1 bundle (use with --limit 0 to export all)")
	a.iocsActionFlags(fs)
}

type iocJSON struct {
	Value   string          `json:"value"`
	Type    ioc.Type        `json:"type"`
	Sources []sharing.Entry `json:"sources"`
}

func (a *app) cmdIOCs(ctx context.Context, args []string) int {
	if len(args) > 0 && slices.Contains(iocsActions, args[0]) {
		return a.cmdIOCAction(ctx, args)
	}
	if len(args) > 0 {
		return a.usageErr("iocs", "takes no arguments; filter with --filter QUERY")
	}
	if a.f.limit < 0 {
		return a.usageErr("iocs", "--limit %d: write a positive number, or 0 for all", a.f.limit)
	}
	if _, err := rule.Parse(a.f.filter); err != nil {
		var qe *rule.Error
		if errors.As(err, &qe) {
			fmt.Fprintf(a.stderr, "cte iocs: --filter: %v\n  %s\n", err, strings.ReplaceAll(qe.Pointer(), "\n", "\n  "))
			return exitUsage
		}
		return a.usageErr("iocs", "--filter: %v", err)
	}
	s, code := a.openSession(ctx, storeOnly)
	if s == nil {
		return code
	}
	defer s.close()
	recs, err := s.eng.Indicators(ctx, a.f.filter, a.f.limit)
	if err != nil {
		return a.fail(err)
	}
	if a.f.stix {
		return a.writeSTIX(recs)
	}
	if a.json {
		return a.writeJSON(iocsJSON(recs))
	}
	a.printIOCs(recs)
	if a.f.limit > 0 && len(recs) == a.f.limit {
		fmt.Fprintf(a.stderr, "(first %d shown; --limit 0 shows all)\n", a.f.limit)
	}
	return exitOK
}

// writeSTIX writes one STIX 2.1 indicator per record, merged over its active
// source entries (sources joined in x_cte_source); records with none are left out.
func (a *app) writeSTIX(recs []sharing.Record) int {
	out := make([]ioc.Indicator, 0, len(recs))
	for _, r := range recs {
		var merged ioc.Indicator
		var sources []string
		for _, e := range r.Entries {
			if e.Inactive {
				continue
			}
			merged = ioc.Merge(merged, e.Indicator)
			sources = append(sources, e.Source)
		}
		if len(sources) == 0 {
			continue
		}
		merged.Type, merged.Value, merged.Source = r.Type, r.Value, strings.Join(sources, ",")
		out = append(out, merged)
	}
	if err := ioc.WriteSTIX(a.stdout, out, a.now()); err != nil {
		return a.fail(err)
	}
	return exitOK
}

func (a *app) printIOCs(recs []sharing.Record) {
	if len(recs) == 0 {
		fmt.Fprintln(a.stdout, "no indicators match")
		return
	}
	tw := a.newTable()
	fmt.Fprintln(tw, "TYPE\tVALUE\tSEVERITY\tSOURCES\tLAST SEEN\tSTATE")
	for _, r := range recs {
		sev := ioc.SeverityUnknown
		var last time.Time
		active := false
		for _, e := range r.Entries {
			sev = max(sev, e.Severity)
			if e.LastSeen.After(last) {
				last = e.LastSeen
			}
			active = active || !e.Inactive
		}
		state := "active"
		if !active {
			state = "inactive"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Type, r.Value, sev, strings.Join(r.Sources(), ","), a.when(last), state)
	}
	_ = tw.Flush()
}

// iocsJSON is the --json shape of stored indicators.
func iocsJSON(recs []sharing.Record) []iocJSON {
	out := make([]iocJSON, len(recs))
	for i, r := range recs {
		out[i] = iocJSON{Value: r.Value, Type: r.Type, Sources: r.Entries}
	}
	return out
}
