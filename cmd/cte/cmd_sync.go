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
	fs.BoolVar(&a.f.retryNow, "retry-now", false, "send the values waiting to be retried now, without waiting for their next attempt (after an outage cleared)")
}

// syncJSON is one source's sync in --json output.
type syncJSON struct {
	Source  string             `json:"source"`
	Outcome string             `json:"outcome"` // ok, partial or failed
	Report  sharing.SyncReport `json:"report"`
	Errors  []string           `json:"errors,omitempty"`
}

// Outcomes of one source's sync.
const (
	syncOK      = "ok"      // pulled to the end and shared
	syncPartial = "partial" // something was stored or shared, and something failed (e.g. a pull stopped early)
	syncFailed  = "failed"  // failed before anything was stored
)

func (a *app) cmdSync(ctx context.Context, args []string) int {
	if len(args) > 0 {
		return a.usageErr("sync", "takes no arguments; name one source with --source NAME")
	}
	s, code := a.openSession(ctx, withSharing)
	if s == nil {
		return code
	}
	defer s.close()
	sources := s.cfg.pulled(a.reg)
	if a.f.source != "" {
		if !slices.Contains(sources, a.f.source) {
			return a.usageErr("sync", "--source %q %s", a.f.source, a.notPulledWhy(s.cfg, a.f.source))
		}
		sources = []string{a.f.source}
	}
	var outcomes []string
	var out []syncJSON
	for _, src := range sources {
		if ctx.Err() != nil {
			break
		}
		rep, errs := a.syncSource(ctx, s, src)
		outcome := syncOutcome(rep, errs)
		outcomes = append(outcomes, outcome)
		if a.json {
			j := syncJSON{Source: src, Outcome: outcome, Report: rep}
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
	return outcomeCode(outcomes)
}

// notPulledWhy says why name is not pulled.
func (a *app) notPulledWhy(cfg *config, name string) string {
	p, ok := cfg.plugin(name)
	if !ok {
		return fmt.Sprintf("is not a configured plugin%s; pulled: %s", suggest(name, pluginNames(cfg)), listOrNone(cfg.pulled(a.reg)))
	}
	if d, ok := a.reg.Driver(p.Type); ok && d.Manifest.Capabilities.Pull {
		return fmt.Sprintf("is the source of no sharing configuration, so it is not pulled; set pull: true under plugins.%s to pull it anyway; pulled: %s", name, listOrNone(cfg.pulled(a.reg)))
	}
	return fmt.Sprintf("is a %s plugin, which cannot pull; pulled: %s", p.Type, listOrNone(cfg.pulled(a.reg)))
}

// syncSource syncs one source and returns its report and errors.
func (a *app) syncSource(ctx context.Context, s *session, src string) (sharing.SyncReport, []error) {
	var opts []sharing.ShareOption
	if a.f.retryNow {
		opts = append(opts, sharing.WithRetryNow())
	}
	rep, err := s.eng.SyncSource(ctx, src, opts...)
	s.observeSync(rep, err)
	return rep, errorsOf(err)
}

// syncOutcome classifies one source's sync.
func syncOutcome(rep sharing.SyncReport, errs []error) string {
	if len(errs) == 0 {
		return syncOK
	}
	if rep.Pages > 0 {
		return syncPartial
	}
	for _, sh := range rep.Shares {
		if sh.Applied > 0 || sh.Retracted > 0 {
			return syncPartial
		}
	}
	return syncFailed
}

// outcomeCode is exitOK when every source synced, exitFailure when none did
// anything, and exitPartial otherwise.
func outcomeCode(outcomes []string) int {
	ok, failed := 0, 0
	for _, o := range outcomes {
		switch o {
		case syncOK:
			ok++
		case syncFailed:
			failed++
		}
	}
	switch {
	case ok == len(outcomes):
		return exitOK
	case failed == len(outcomes):
		return exitFailure
	}
	return exitPartial
}

func (a *app) printSync(rep sharing.SyncReport, errs []error) {
	w := a.stdout
	fmt.Fprintf(w, "%s: %s\n", rep.Source, pullSummary(rep))
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

// pullSummary is e.g. "pulled 3574 indicators in 36 pages (3572 new, 2 already
// stored from another source, 0 updated), 4 invalid values skipped". new, from
// another source and updated add up to the indicators pulled; of the updated,
// those re-read unchanged (an overlap the plugin reads again) were not merged
// again.
func pullSummary(rep sharing.SyncReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "pulled %s in %s (%d new", plural(rep.Indicators, "indicator"), plural(rep.Pages, "page"), rep.New)
	if rep.Added > 0 {
		fmt.Fprintf(&b, ", %d already stored from another source", rep.Added)
	}
	fmt.Fprintf(&b, ", %d updated", rep.Updated)
	if rep.Known > 0 {
		fmt.Fprintf(&b, ", of which %d re-read unchanged", rep.Known)
	}
	b.WriteString(")")
	if rep.Invalid > 0 {
		fmt.Fprintf(&b, ", %s skipped", plural(rep.Invalid, "invalid value"))
	}
	if rep.Inactive > 0 {
		fmt.Fprintf(&b, ", %d aged out", rep.Inactive)
	}
	return b.String()
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
