package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ctexchange/cte"
)

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
		if _, ok := cfg.plugin(args[0]); !ok {
			return a.usageErr("validate", "no plugin named %q in %s; plugins: %s", args[0], cfg.Path, strings.Join(pluginNames(cfg), ", "))
		}
	}
	results, code := a.validateAll(ctx, cfg, args...)
	if results == nil {
		return code
	}
	if a.json {
		a.writeJSON(results)
	} else {
		a.printValidate(results)
	}
	return code
}

// validateAll validates the named plugins (all when none is named) and
// returns their results and the exit code they call for; nil results when a
// plugin could not even be opened.
func (a *app) validateAll(ctx context.Context, cfg *config, names ...string) ([]validateResult, int) {
	plugins, code := a.openPlugins(ctx, cfg, names...)
	if plugins == nil {
		return nil, code
	}
	results := []validateResult{}
	failed := 0
	for _, p := range cfg.Plugins {
		if pl, ok := plugins[p.Name]; ok {
			r := a.validatePlugin(ctx, cfg, p, pl)
			if !r.OK {
				failed++
			}
			results = append(results, r)
		}
	}
	return results, partialCode(failed, len(results))
}

func (a *app) printValidate(results []validateResult) {
	for _, r := range results {
		switch {
		case r.OK && r.Warning != "":
			fmt.Fprintf(a.stdout, "warn  %s (%s): %s\n", r.Name, r.Type, r.Warning)
		case r.OK:
			fmt.Fprintf(a.stdout, "ok    %s (%s)\n", r.Name, r.Type)
		default:
			fmt.Fprintf(a.stdout, "FAIL  %s (%s): %s\n", r.Name, r.Type, r.Error)
		}
	}
}

// validatePlugin validates one plugin against its product, then checks that
// it offers the target of every sharing configuration that sends to it.
func (a *app) validatePlugin(ctx context.Context, cfg *config, p *pluginEntry, pl cte.Plugin) validateResult {
	r := validateResult{Name: p.Name, Type: p.Type, OK: true}
	if err := pl.Validate(ctx); err != nil {
		// A missing capability (e.g. Mimecast without the BYO package) is a
		// warning, unless a sharing configuration needs a target the plugin does
		// not offer (checked below).
		if !errors.Is(err, cte.ErrNotSupported) {
			r.OK, r.Error = false, err.Error()
			return r
		}
		r.Warning = err.Error()
	}
	if missing := missingTargets(ctx, cfg, p.Name, pl); missing != "" {
		r.OK, r.Error = false, missing
		if r.Warning != "" {
			r.Error = r.Warning + "; " + missing
			r.Warning = ""
		}
	}
	return r
}

// missingTargets names the sharing configurations whose destination is plugin
// name and whose target the plugin does not offer, each at its file and line
// with the targets it does offer, or returns "".
func missingTargets(ctx context.Context, cfg *config, name string, pl cte.Plugin) string {
	var need []sharingEntry
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
		return err.Error()
	}
	ids := make([]string, len(targets))
	for i, t := range targets {
		ids[i] = t.ID
	}
	var missing []string
	for _, sc := range need {
		if slices.Contains(ids, sc.Target) {
			continue
		}
		msg := fmt.Sprintf("sharing %q needs target %s, which it does not offer%s; targets: %s", sc.Name, sc.Target, suggestTarget(sc.Target, ids), listOrNone(ids))
		missing = append(missing, cfg.sharingError(sc, errors.New(msg)).Error())
	}
	return strings.Join(missing, "; ")
}

// suggestTarget is suggest for target IDs, where a bare name (BLOCK) is
// usually the last part of the ID meant (operation/BLOCK).
func suggestTarget(s string, ids []string) string {
	for _, id := range ids {
		if _, last, ok := strings.Cut(id, "/"); ok && strings.EqualFold(last, s) {
			return fmt.Sprintf(" (did you mean %s?)", id)
		}
	}
	return suggest(s, ids)
}
