package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
)

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
	if _, ok := cfg.plugin(args[0]); !ok {
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
