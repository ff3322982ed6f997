package sharing

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
)

// CheckTarget asks the destination of a sharing configuration for its targets
// and checks the configuration's against them: it must be listed, have a mode,
// and accept a type the rule can match. The target found is kept (in the engine
// and the store) for Plan, Explain and Sharing. A host's "validate" calls it;
// Share does the same on its first run.
func (e *Engine) CheckTarget(ctx context.Context, name string) (cte.Target, error) {
	cs, err := e.resolve(ctx, name, true)
	if err != nil {
		return cte.Target{}, err
	}
	return cs.target, nil
}

// resolve returns the configuration name with its target known when it can be:
// online asks the destination (once per process), otherwise the target kept in
// the store is used (no I/O but the store). Without online, an unknown target
// is not an error: the configuration is returned with only the target's ID.
func (e *Engine) resolve(ctx context.Context, name string, online bool) (*configState, error) {
	e.mu.RLock()
	cs := e.configs[name]
	var dst *pluginState
	var rule *CompiledRule
	if cs != nil {
		dst, rule = e.plugins[cs.cfg.Destination], e.rules[cs.cfg.Rule]
	}
	e.mu.RUnlock()
	switch {
	case cs == nil:
		return nil, notFound(fmt.Errorf("sharing: sharing configuration %q is not defined", name))
	case cs.listed || cs.known && !online:
		return cs, nil
	case dst == nil:
		return nil, fmt.Errorf("sharing %q: destination %q is not configured", name, cs.cfg.Destination)
	case rule == nil:
		return nil, fmt.Errorf("sharing %q: rule %q is not defined", name, cs.cfg.Rule)
	}
	var t cte.Target
	if online {
		ts, err := dst.p.GetTargets(ctx)
		if err != nil {
			return nil, fmt.Errorf("sharing %q: destination %q: list targets: %w", name, cs.cfg.Destination, err)
		}
		if t, err = pickTarget(cs.cfg, ts, rule); err != nil {
			return nil, err
		}
		if err := e.keepTarget(ctx, cs.cfg.Destination, t); err != nil {
			return nil, fmt.Errorf("sharing %q: %w", name, err)
		}
	} else {
		var ok bool
		err := e.store.View(ctx, func(tx Tx) error {
			rs, found, err := tx.RunState(targetKey(cs.cfg.Destination, cs.cfg.Target))
			t, ok = targetOf(cs.cfg.Target, rs), found
			return err
		})
		if err != nil || !ok {
			return cs, err
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	cur := e.configs[name]
	if cur == nil || cur.cfg != cs.cfg {
		return cs, nil // replaced meanwhile: the new one resolves on its own
	}
	k := &configState{cfg: cs.cfg, target: t, known: true, listed: online || cur.listed, share: cs.share}
	if cur.listed && !online {
		k = cur
	}
	e.configs[name] = k
	return k, nil
}

// pickTarget finds c.Target among ts and checks it against the rule.
func pickTarget(c Config, ts []cte.Target, rule *CompiledRule) (cte.Target, error) {
	where := fmt.Sprintf("sharing %q", c.Name)
	if len(ts) == 0 {
		return cte.Target{}, fmt.Errorf("%s: destination %q cannot push: it has no targets", where, c.Destination)
	}
	i := slices.IndexFunc(ts, func(t cte.Target) bool { return t.ID == c.Target })
	if i < 0 {
		ids := make([]string, len(ts))
		for j, t := range ts {
			ids[j] = t.ID
		}
		return cte.Target{}, fmt.Errorf("%s: target %q is not a target of destination %q: choose one of %s", where, c.Target, c.Destination, strings.Join(ids, ", "))
	}
	t := ts[i]
	if t.Mode != cte.Append && t.Mode != cte.Replace {
		return cte.Target{}, fmt.Errorf("%s: target %q of %q has no mode (%v): the plugin must say append or replace", where, t.ID, c.Destination, t.Mode)
	}
	if !slices.ContainsFunc(rule.Types(), t.Accepts) {
		return cte.Target{}, fmt.Errorf("%s: rule %q can only match %s, and target %q accepts %s: nothing could ever be shared",
			where, c.Rule, typeList(rule.Types()), t.ID, typeList(t.Types))
	}
	return t, nil
}

// The targets a destination listed are kept as run states named
// "target/DESTINATION/TARGET-ID", whose Counts hold the mode, the accepted types
// (a bit set by ioc.Type) and the limits.
func targetKey(dest, id string) string { return "target/" + dest + "/" + id }

// keepTarget stores t as a known target of dest, unless it is stored already.
func (e *Engine) keepTarget(ctx context.Context, dest string, t cte.Target) error {
	var types int
	for _, ty := range t.Types {
		types |= 1 << ty
	}
	want := RunState{Name: targetKey(dest, t.ID), LastRun: e.now(), LastOK: e.now(), Counts: map[string]int{
		"mode": int(t.Mode), "types": types, "maxItems": t.Limits.MaxItems, "maxBytes": int(t.Limits.MaxBytes), "batchSize": t.Limits.BatchSize}}
	var same bool
	err := e.store.View(ctx, func(tx Tx) error {
		rs, ok, err := tx.RunState(want.Name)
		same = ok && maps.Equal(rs.Counts, want.Counts)
		return err
	})
	if err == nil && !same {
		err = e.store.Update(ctx, func(tx Tx) error { return tx.PutRunState(want) })
	}
	if err != nil {
		return fmt.Errorf("keep target %s %s: %w", dest, t.ID, err)
	}
	return nil
}

// targetOf rebuilds a target kept by keepTarget.
func targetOf(id string, rs RunState) cte.Target {
	t := cte.Target{ID: id, Label: id, Mode: cte.Mode(rs.Counts["mode"]), Limits: cte.Limits{
		MaxItems: rs.Counts["maxItems"], MaxBytes: int64(rs.Counts["maxBytes"]), BatchSize: rs.Counts["batchSize"]}}
	for ty := ioc.Type(1); ty < 32; ty++ {
		if rs.Counts["types"]&(1<<ty) != 0 {
			t.Types = append(t.Types, ty)
		}
	}
	return t
}
