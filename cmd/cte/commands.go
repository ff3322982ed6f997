package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
)

// Command flags.
type cmdFlags struct {
	source string
	days   int
	value  string
	filter string
	limit  int
	level  string
	since  string
	keep   bool
	stix   bool
}

func (a *app) syncFlags(fs *flag.FlagSet) {
	fs.StringVar(&a.f.source, "source", "", "sync only the plugin `NAME`")
}

func (a *app) testFlags(fs *flag.FlagSet) {
	fs.IntVar(&a.f.days, "days", 0, "only indicators fetched in the last `N` days (default: all stored)")
	fs.StringVar(&a.f.value, "value", "", "also say why indicator `V` is or is not shared by this configuration")
}

func (a *app) iocsFlags(fs *flag.FlagSet) {
	fs.StringVar(&a.f.filter, "filter", "", "`QUERY` in the rule language, e.g. 'type == sha256 and severity >= high'")
	fs.IntVar(&a.f.limit, "limit", 50, "show at most `N` indicators (0: all)")
	fs.BoolVar(&a.f.stix, "stix", false, "write the active indicators as a STIX 2.1 bundle (use with --limit 0 to export all)")
}

func (a *app) logsFlags(fs *flag.FlagSet) {
	fs.StringVar(&a.f.level, "level", "info", "lowest `level` shown: debug, info, warn, error")
	fs.StringVar(&a.f.since, "since", "", "only entries newer than `D` ago, e.g. 30m, 12h, 7d")
	fs.IntVar(&a.f.limit, "limit", 100, "show the newest `N` entries (0: all)")
}

func (a *app) demoFlags(fs *flag.FlagSet) {
	fs.BoolVar(&a.f.keep, "keep", false, "keep the fake services running after the demo (until Ctrl-C) to try the other commands")
}

// newTable returns a tabwriter on stdout.
func (a *app) newTable() *tabwriter.Writer {
	return tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
}

// ---- validate ----

type validateResult struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	OK      bool   `json:"ok"`
	Warning string `json:"warning,omitempty"`
	Error   string `json:"error,omitempty"`
}

func (a *app) cmdValidate(ctx context.Context, args []string) int {
	if len(args) > 1 {
		return a.usageErr("validate", "takes at most one plugin name")
	}
	cfg, code := a.loadConfig()
	if cfg == nil {
		return code
	}
	if len(args) == 1 {
		if _, ok := cfg.Plugin(args[0]); !ok {
			return a.usageErr("validate", "no plugin named %q in %s; plugins: %s", args[0], cfg.Path, strings.Join(pluginNames(cfg), ", "))
		}
	}
	plugins, code := a.openPlugins(ctx, cfg, args...)
	if plugins == nil {
		return code
	}
	var results []validateResult
	failed := 0
	for _, p := range cfg.Plugins {
		pl, ok := plugins[p.Name]
		if !ok {
			continue
		}
		r := validateResult{Name: p.Name, Type: p.Type, OK: true}
		if err := pl.Validate(ctx); err != nil {
			// A missing capability (e.g. Mimecast without the BYO package) is a warning
			// unless a sharing configuration needs a target the plugin no longer offers.
			if errors.Is(err, cte.ErrNotSupported) {
				r.Warning = err.Error()
				if missing := missingTargets(ctx, cfg, p.Name, pl); missing != "" {
					r.OK, r.Error = false, err.Error()+"; "+missing
				}
			} else {
				r.OK, r.Error = false, err.Error()
			}
		}
		if !r.OK {
			failed++
		}
		results = append(results, r)
		if !a.json {
			if r.OK && r.Warning != "" {
				fmt.Fprintf(a.stdout, "warn  %s (%s): %s\n", r.Name, r.Type, r.Warning)
			} else if r.OK {
				fmt.Fprintf(a.stdout, "ok    %s (%s)\n", r.Name, r.Type)
			} else {
				fmt.Fprintf(a.stdout, "FAIL  %s (%s): %s\n", r.Name, r.Type, r.Error)
			}
		}
	}
	if a.json {
		a.writeJSON(results)
	}
	return partialCode(failed, len(results))
}

// missingTargets names the sharing configurations whose destination is plugin name
// and whose target the plugin does not offer now, or returns "".
func missingTargets(ctx context.Context, cfg *Config, name string, pl cte.Plugin) string {
	var need []SharingConfig
	for _, sc := range cfg.Sharing {
		if sc.Destination == name {
			need = append(need, sc)
		}
	}
	if len(need) == 0 {
		return ""
	}
	targets, err := pl.GetTargets(ctx)
	if err != nil {
		return "cannot list its targets: " + err.Error()
	}
	var missing []string
	for _, sc := range need {
		if !slices.ContainsFunc(targets, func(t cte.Target) bool { return t.ID == sc.Target }) {
			missing = append(missing, fmt.Sprintf("sharing %q needs target %s, which it does not offer", sc.Name, sc.Target))
		}
	}
	return strings.Join(missing, "; ")
}

// partialCode is exitOK when nothing failed, exitFailure when everything did and
// exitPartial in between.
func partialCode(failed, total int) int {
	switch {
	case failed == 0:
		return exitOK
	case failed >= total:
		return exitFailure
	}
	return exitPartial
}

func pluginNames(cfg *Config) []string {
	out := make([]string, len(cfg.Plugins))
	for i, p := range cfg.Plugins {
		out[i] = p.Name
	}
	return out
}

// ---- targets ----

type targetJSON struct {
	ID     string     `json:"id"`
	Label  string     `json:"label"`
	Mode   cte.Mode   `json:"mode"`
	Types  []ioc.Type `json:"types"`
	Limits cte.Limits `json:"limits"`
}

func (a *app) cmdTargets(ctx context.Context, args []string) int {
	if len(args) != 1 {
		return a.usageErr("targets", "needs one plugin name")
	}
	cfg, code := a.loadConfig()
	if cfg == nil {
		return code
	}
	if _, ok := cfg.Plugin(args[0]); !ok {
		return a.usageErr("targets", "no plugin named %q in %s; plugins: %s", args[0], cfg.Path, strings.Join(pluginNames(cfg), ", "))
	}
	plugins, code := a.openPlugins(ctx, cfg, args[0])
	if plugins == nil {
		return code
	}
	ts, err := plugins[args[0]].GetTargets(ctx)
	if err != nil {
		return a.fail(fmt.Errorf("targets of %s: %w", args[0], err))
	}
	if a.json {
		out := make([]targetJSON, len(ts))
		for i, t := range ts {
			out[i] = targetJSON{ID: t.ID, Label: t.Label, Mode: t.Mode, Types: t.Types, Limits: t.Limits}
		}
		return a.writeJSON(out)
	}
	if len(ts) == 0 {
		fmt.Fprintf(a.stdout, "%s has no targets: it cannot receive indicators with this configuration\n", args[0])
		return exitOK
	}
	tw := a.newTable()
	fmt.Fprintln(tw, "TARGET\tMODE\tTYPES\tLIMITS\tLABEL")
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Mode, typeNames(t.Types), limitsText(t.Limits), t.Label)
	}
	_ = tw.Flush()
	return exitOK
}

func typeNames(ts []ioc.Type) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.String()
	}
	return strings.Join(s, ",")
}

func limitsText(l cte.Limits) string {
	var parts []string
	if l.MaxItems > 0 {
		parts = append(parts, fmt.Sprintf("%d items", l.MaxItems))
	}
	if l.MaxBytes > 0 {
		parts = append(parts, byteSize(l.MaxBytes))
	}
	if l.BatchSize > 0 {
		parts = append(parts, fmt.Sprintf("batch %d", l.BatchSize))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// ---- sync ----

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
	defer s.Close()
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
func sourceNames(cfg *Config, reg *cte.Registry) []string {
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

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// checkSharingArg checks that args is the name of one configured sharing
// configuration, and says which exist when it is not.
func (a *app) checkSharingArg(cmd string, args []string) int {
	if len(args) != 1 {
		return a.usageErr(cmd, "needs the name of one sharing configuration")
	}
	cfg, code := a.loadConfig()
	if cfg == nil {
		return code
	}
	if _, ok := cfg.SharingByName(args[0]); !ok {
		names := make([]string, len(cfg.Sharing))
		for i, s := range cfg.Sharing {
			names[i] = s.Name
		}
		return a.usageErr(cmd, "no sharing configuration named %q%s; configured: %s", args[0], suggest(args[0], names), listOrNone(names))
	}
	return exitOK
}

// ---- replay ----

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
	defer s.Close()
	rep, err := s.eng.Share(ctx, args[0], sharing.WithReplay())
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

// ---- run ----

func (a *app) cmdRun(ctx context.Context, args []string) int {
	if len(args) > 0 {
		return a.usageErr("run", "takes no arguments")
	}
	s, code := a.openSession(ctx, withSharing)
	if s == nil {
		return code
	}
	defer s.Close()
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

// ---- sharing ----

func (a *app) cmdSharing(ctx context.Context, args []string) int {
	if len(args) > 0 {
		return a.usageErr("sharing", "takes no arguments")
	}
	s, code := a.openSession(ctx, withSharing)
	if s == nil {
		return code
	}
	defer s.Close()
	return a.printSharing(ctx, s.eng)
}

func (a *app) printSharing(ctx context.Context, eng *sharing.Engine) int {
	st, err := eng.Sharing(ctx)
	if err != nil {
		return a.fail(err)
	}
	if a.json {
		return a.writeJSON(st)
	}
	if len(st) == 0 {
		fmt.Fprintln(a.stdout, "no sharing configurations: add some under sharing: in the configuration file")
		return exitOK
	}
	tw := a.newTable()
	fmt.Fprintln(tw, "SHARING\tRULE\tSOURCE\tDESTINATION\tTARGET\tMODE\tLAST RUN\tAPPLIED\tREJECTED\tRETRY\tOVER CAP.\tRETRACTED")
	for _, x := range st {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\n", x.Name, x.Rule, x.Source, x.Destination, x.Target, x.Mode,
			a.when(x.LastRun), x.Applied, x.Rejected, x.Retryable, x.OverCapacity, x.Retracted)
	}
	_ = tw.Flush()
	for _, x := range st {
		if x.LastError != "" {
			fmt.Fprintf(a.stdout, "%s: last run failed: %s\n", x.Name, x.LastError)
		}
	}
	return exitOK
}

// when formats a time for tables: "never", or UTC to the second.
func (a *app) when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// ---- test ----

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
	defer s.Close()
	p, err := s.eng.Plan(ctx, args[0], time.Duration(a.f.days)*24*time.Hour)
	if err != nil {
		return a.fail(err)
	}
	var why *sharing.SharingDecision
	if a.f.value != "" {
		ex, err := s.eng.Explain(ctx, a.f.value)
		if err != nil {
			return a.fail(err)
		}
		why = &sharing.SharingDecision{Config: args[0], Why: "not stored: no source has reported it"}
		for _, d := range ex.Sharing {
			if d.Config == args[0] {
				why = &d
			}
		}
	}
	if a.json {
		return a.writeJSON(struct {
			sharing.PlanReport
			Value *sharing.SharingDecision `json:"ValueDecision,omitempty"`
		}{p, why})
	}
	w := a.stdout
	defer func() {
		if why != nil {
			fmt.Fprintf(w, "  %s: %s: %s\n", a.f.value, sharedText(why.Shared), why.Why)
		}
	}()
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
	return exitOK
}

func sharedText(shared bool) string {
	if shared {
		return "shared"
	}
	return "not shared"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// ---- iocs ----

type iocJSON struct {
	Value   string          `json:"value"`
	Type    ioc.Type        `json:"type"`
	Sources []sharing.Entry `json:"sources"`
}

func (a *app) cmdIOCs(ctx context.Context, args []string) int {
	if len(args) > 0 {
		return a.usageErr("iocs", "takes no arguments; filter with --filter QUERY")
	}
	if a.f.limit < 0 {
		return a.usageErr("iocs", "--limit %d: write a positive number, or 0 for all", a.f.limit)
	}
	if _, err := sharing.ParseQuery(a.f.filter); err != nil {
		var qe *sharing.QueryError
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
	defer s.Close()
	recs, err := s.eng.Indicators(ctx, a.f.filter, a.f.limit)
	if err != nil {
		return a.fail(err)
	}
	if a.f.stix {
		return a.writeSTIX(recs)
	}
	if a.json {
		out := make([]iocJSON, len(recs))
		for i, r := range recs {
			out[i] = iocJSON{Value: r.Value, Type: r.Type, Sources: r.Entries}
		}
		return a.writeJSON(out)
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

// ---- explain ----

func (a *app) cmdExplain(ctx context.Context, args []string) int {
	if len(args) != 1 || strings.TrimSpace(args[0]) == "" {
		return a.usageErr("explain", "needs one indicator value, e.g. a SHA256 hash")
	}
	s, code := a.openSession(ctx, withSharing)
	if s == nil {
		return code
	}
	defer s.Close()
	ex, err := s.eng.Explain(ctx, args[0])
	if err != nil {
		return a.fail(err)
	}
	if a.json {
		return a.writeJSON(ex)
	}
	w := a.stdout
	if !ex.Found {
		fmt.Fprintf(w, "%s: not stored; no source has reported it\n", ex.Value)
		return exitOK
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

// ---- logs ----

type logJSON struct {
	Seq        uint64            `json:"seq"`
	Time       time.Time         `json:"time"`
	Level      string            `json:"level"`
	Config     string            `json:"config,omitempty"`
	Message    string            `json:"message"`
	Details    map[string]string `json:"details,omitempty"`
	Resolution string            `json:"resolution,omitempty"`
}

func (a *app) cmdLogs(ctx context.Context, args []string) int {
	if len(args) > 0 {
		return a.usageErr("logs", "takes no arguments")
	}
	lvl, ok := parseLevel(a.f.level)
	if !ok {
		return a.usageErr("logs", "--level %q: write debug, info, warn or error", a.f.level)
	}
	f := sharing.LogFilter{MinLevel: lvl, Limit: a.f.limit}
	if a.f.since != "" {
		d, err := parseDuration(a.f.since)
		if err != nil || d <= 0 {
			return a.usageErr("logs", "--since %q is not a duration; write e.g. 30m, 12h or 7d", a.f.since)
		}
		f.Since = a.now().Add(-d)
	}
	if a.f.limit < 0 {
		return a.usageErr("logs", "--limit %d: write a positive number, or 0 for all", a.f.limit)
	}
	s, code := a.openSession(ctx, storeOnly)
	if s == nil {
		return code
	}
	defer s.Close()
	entries, err := s.eng.Logs(ctx, f)
	if err != nil {
		return a.fail(err)
	}
	if a.json {
		out := make([]logJSON, len(entries))
		for i, e := range entries {
			out[i] = logJSON{Seq: e.Seq, Time: e.Time.UTC(), Level: e.Level.String(), Config: e.Config, Message: e.Message, Details: e.Details, Resolution: e.Resolution}
		}
		return a.writeJSON(out)
	}
	a.printLogs(a.stdout, entries)
	return exitOK
}

func (a *app) printLogs(w io.Writer, entries []sharing.AuditEntry) {
	if len(entries) == 0 {
		fmt.Fprintln(w, "no log entries")
		return
	}
	for _, e := range entries {
		fmt.Fprintf(w, "%s %-5s %s", a.when(e.Time), e.Level, e.Message)
		if e.Config != "" {
			fmt.Fprintf(w, " [%s]", e.Config)
		}
		fmt.Fprintln(w)
		if len(e.Details) > 0 {
			parts := make([]string, 0, len(e.Details))
			for _, k := range sortedKeys(e.Details) {
				parts = append(parts, quoteIfNeeded(k)+"="+quoteIfNeeded(e.Details[k]))
			}
			fmt.Fprintf(w, "    %s\n", strings.Join(parts, " "))
		}
		if e.Resolution != "" {
			fmt.Fprintf(w, "    what to do: %s\n", e.Resolution)
		}
	}
}

func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\"=") {
		return strconv.Quote(s)
	}
	return s
}

// parseLevel reads debug, info, warn or error (any case).
func parseLevel(s string) (slog.Level, bool) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(strings.TrimSpace(s)))); err != nil || strings.ContainsAny(s, "+-") {
		return 0, false
	}
	return l, true
}
