package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/sharing"
)

func (a *app) syncFlags(fs *flag.FlagSet) {
	fs.StringVar(&a.f.source, "source", "", "sync only the plugin `NAME`")
}

type syncJSON struct {
	Source string             `json:"source"`
	Report sharing.SyncReport `json:"report"`
	Errors []string           `json:"errors,omitempty"`
}

func (a *app) cmdSync(ctx context.Context, args []string) int {
	if len(args) > 0 {
		return a.usageErr("sync", "takes no arguments; name one source with --source NAME")
	}
	s, code := a.openSession(ctx, withSharing)
	if s == nil {
		return code
	}
	defer s.close()
	sources := sourceNames(s.cfg, a.reg)
	if a.f.source != "" {
		if !slices.Contains(sources, a.f.source) {
			return a.usageErr("sync", "--source %q is not a plugin that pulls; sources: %s", a.f.source, strings.Join(sources, ", "))
		}
		sources = []string{a.f.source}
	}
	failed := 0
	var out []syncJSON
	for _, src := range sources {
		rep, err := s.eng.SyncSource(ctx, src)
		errs := errorsOf(err)
		if len(errs) > 0 {
			failed++
		}
		if a.json {
			j := syncJSON{Source: src, Report: rep}
			for _, e := range errs {
				j.Errors = append(j.Errors, e.Error())
			}
			out = append(out, j)
			continue
		}
		a.printSync(rep, errs)
	}
	if a.json {
		a.writeJSON(out)
	}
	if ctx.Err() != nil {
		fmt.Fprintln(a.stderr, "cte: interrupted; what was stored so far is kept")
		return exitFailure
	}
	return partialCode(failed, len(sources))
}

// sourceNames lists the configured plugins that can pull, in file order.
func sourceNames(cfg *config, reg *cte.Registry) []string {
	var out []string
	for _, p := range cfg.Plugins {
		if d, ok := reg.Driver(p.Type); ok && d.Manifest.Capabilities.Pull {
			out = append(out, p.Name)
		}
	}
	return out
}

func (a *app) printSync(rep sharing.SyncReport, errs []error) {
	w := a.stdout
	fmt.Fprintf(w, "%s: pulled %d indicators in %d pages (%d new, %d updated)", rep.Source, rep.Indicators, rep.Pages, rep.New, rep.Updated)
	if rep.Invalid > 0 {
		fmt.Fprintf(w, ", %d invalid values skipped", rep.Invalid)
	}
	if rep.Inactive > 0 {
		fmt.Fprintf(w, ", %d aged out", rep.Inactive)
	}
	fmt.Fprintln(w)
	for _, r := range sortedKeys(rep.Reasons) {
		fmt.Fprintf(w, "  invalid: %s: %d\n", r, rep.Reasons[r])
	}
	for _, sh := range rep.Shares {
		fmt.Fprintf(w, "  %s\n", shareLine(sh))
		for _, r := range sortedKeys(sh.Reasons) {
			fmt.Fprintf(w, "    not applied: %s: %d\n", r, sh.Reasons[r])
		}
	}
	for _, e := range errs {
		fmt.Fprintf(w, "  error: %v\n", e)
	}
}

func shareLine(sh sharing.ShareReport) string {
	if sh.Muted {
		return fmt.Sprintf("%s: rule muted, nothing shared", sh.Config)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d matched, %d sent, %d applied, %d unchanged", sh.Config, sh.Matched, sh.Sent, sh.Applied, sh.Unchanged)
	if sh.Rejected > 0 {
		fmt.Fprintf(&b, ", %d rejected", sh.Rejected)
	}
	if sh.Retrying > 0 || sh.Waiting > 0 {
		fmt.Fprintf(&b, ", %d to retry", sh.Retrying+sh.Waiting)
	}
	if sh.OverCapacity > 0 {
		fmt.Fprintf(&b, ", %d over capacity", sh.OverCapacity)
	}
	if sh.Retracted > 0 {
		fmt.Fprintf(&b, ", %d retracted", sh.Retracted)
	}
	if sh.Mode == cte.Replace {
		if sh.Pushed {
			b.WriteString(" (list replaced)")
		} else {
			b.WriteString(" (list unchanged, not sent)")
		}
	}
	return b.String()
}
