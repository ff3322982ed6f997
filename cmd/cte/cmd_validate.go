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
