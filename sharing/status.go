package sharing

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/ctexchange/cte"
)

// PluginStatus is what a console shows of one registered plugin.
type PluginStatus struct {
	Name     string
	Settings SourceSettings
	Pull     PullStatus   // the last pull (zero for a plugin that does not pull)
	Validate RunState     // the last Validate: LastRun, LastOK, LastError
	Targets  []cte.Target // the targets its sharing configurations use, as last listed
}

// Validate calls the plugin's Validate (configuration, credentials and
// licences, against the product) and keeps the outcome for Plugins.
func (e *Engine) Validate(ctx context.Context, plugin string) error {
	p, err := e.plugin(plugin)
	if err != nil {
		return err
	}
	now := e.now()
	verr := p.p.Validate(ctx)
	if verr != nil {
		verr = fmt.Errorf("sharing: validate %q: %w", plugin, verr)
	}
	e.putRun(ctx, validateKey(plugin), now, verr, nil)
	return verr
}

func validateKey(plugin string) string { return "validate/" + plugin }

// Plugins lists the registered plugins by name with their last pull, last
// validation and the targets their sharing configurations use. It reads the
// store only.
func (e *Engine) Plugins(ctx context.Context) ([]PluginStatus, error) {
	pulls, err := e.Pulls(ctx)
	if err != nil {
		return nil, fmt.Errorf("sharing: plugins: %w", err)
	}
	for _, c := range e.Configs() {
		_, _ = e.resolve(ctx, c.Name, false) // the kept targets
	}
	e.mu.RLock()
	out := make([]PluginStatus, 0, len(e.plugins))
	for n, p := range e.plugins {
		st := PluginStatus{Name: n, Settings: p.settings}
		for _, cs := range e.configs {
			if cs.cfg.Destination == n && cs.known && !slices.ContainsFunc(st.Targets, func(t cte.Target) bool { return t.ID == cs.target.ID }) {
				st.Targets = append(st.Targets, cs.target)
			}
		}
		slices.SortFunc(st.Targets, func(a, b cte.Target) int { return strings.Compare(a.ID, b.ID) })
		out = append(out, st)
	}
	e.mu.RUnlock()
	slices.SortFunc(out, func(a, b PluginStatus) int { return strings.Compare(a.Name, b.Name) })
	err = e.store.View(ctx, func(tx Tx) error {
		for i := range out {
			if j := slices.IndexFunc(pulls, func(p PullStatus) bool { return p.Source == out[i].Name }); j >= 0 {
				out[i].Pull = pulls[j]
			}
			rs, _, err := tx.RunState(validateKey(out[i].Name))
			if err != nil {
				return err
			}
			out[i].Validate = rs
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sharing: plugins: %w", err)
	}
	return out, nil
}
