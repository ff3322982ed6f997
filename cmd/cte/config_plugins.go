package main

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/sharing"
)

var pluginKeys = []string{"type", "sync_interval", "aging", "pull", "config"}

func (l *loader) plugins(n *yaml.Node) []*pluginEntry {
	if n.Kind != yaml.MappingNode || len(n.Content) == 0 {
		l.errorf(n, "plugins", "must map plugin names to their settings, e.g. plugins: {mimecast: {type: mimecast, config: {...}}}")
		return nil
	}
	var out []*pluginEntry
	for path, e := range l.namedMappings(n, "plugins", pluginKeys) {
		if e.key.Value == sharing.ManualSource {
			l.errorf(e.key, path, "%q is cte's own source of the indicators added by hand (cte iocs add): give the plugin another name", sharing.ManualSource)
			continue
		}
		p := &pluginEntry{Name: e.key.Value, cfgLine: e.key.Line, SyncInterval: defaultSyncInterval, Aging: sharing.DefaultAging}
		m := l.mapping(e.val, path, pluginKeys)
		var drv cte.Driver
		typeOK := false
		if t, ok := m["type"]; !ok {
			l.errorf(e.key, path+".type", "is missing; write type: %s", strings.Join(l.driverNames(), " or type: "))
		} else if s, ok := l.str(t.val, path+".type"); ok {
			if drv, typeOK = l.reg.Driver(s); !typeOK {
				l.errorf(t.val, path+".type", "%q is not a plugin type; write one of: %s", s, strings.Join(l.driverNames(), ", "))
			}
			p.Type = s
		}
		l.pluginSettings(m, path, p, drv, typeOK)
		c, hasCfg := m["config"]
		if hasCfg {
			p.cfgLine = c.key.Line
		}
		if typeOK {
			var cn *yaml.Node
			if hasCfg {
				cn = c.val
			}
			p.Config, p.keyLines = l.pluginConfig(cn, path+".config", drv.Manifest, p.cfgLine)
		}
		out = append(out, p)
	}
	return out
}

// pluginSettings reads the sync_interval, aging and pull keys of a plugin.
func (l *loader) pluginSettings(m map[string]entry, path string, p *pluginEntry, drv cte.Driver, typeOK bool) {
	if d, ok := m["sync_interval"]; ok {
		if v, ok := l.duration(d.val, path+".sync_interval", "5m or 1h"); ok {
			p.SyncInterval = v
			if v < sharing.MinSyncInterval {
				l.warnf(d.val, path+".sync_interval", "%s is shorter than %s; the product may rate-limit cte", v, sharing.MinSyncInterval)
			}
		}
	}
	if d, ok := m["aging"]; ok {
		if v, ok := l.duration(d.val, path+".aging", "90d or 720h"); ok {
			p.Aging = v
		}
	}
	if b, ok := m["pull"]; ok {
		if s, ok := l.str(b.val, path+".pull"); ok {
			v, err := strconv.ParseBool(s)
			switch {
			case err != nil:
				l.errorf(b.val, path+".pull", "%q is not true or false", s)
			case v && typeOK && !drv.Manifest.Capabilities.Pull:
				l.errorf(b.val, path+".pull", "plugin type %s cannot pull indicators; remove pull: true", p.Type)
			default:
				p.Pull = v
			}
		}
	}
}

// pluginConfig converts the config mapping to JSON, typed by the manifest, and
// checks it with Manifest.Normalize.
func (l *loader) pluginConfig(n *yaml.Node, path string, man cte.Manifest, cfgLine int) (json.RawMessage, map[string]int) {
	values := map[string]any{}
	lines := map[string]int{}
	if n != nil && !(n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		if n.Kind != yaml.MappingNode {
			l.errorf(n, path, "must be a mapping of %s settings", man.Name)
			return nil, nil
		}
		before := len(l.errs)
		for _, e := range l.orderedMapping(n, path) {
			f, known := man.Field(e.key.Value)
			lines[e.key.Value] = e.key.Line
			v, ok := l.configValue(e.val, join(path, e.key.Value), f, known)
			if !ok {
				continue
			}
			values[e.key.Value] = v
		}
		if len(l.errs) > before {
			return nil, lines
		}
	}
	raw, err := json.Marshal(values)
	if err != nil {
		l.errorf(n, path, "cannot be encoded: %v", err)
		return nil, lines
	}
	out, err := man.Normalize(raw)
	if err != nil {
		l.manifestError(err, path, cfgLine, lines)
		return nil, lines
	}
	return out, lines
}

// manifestError reports a *cte.ConfigError at the line of its field.
func (l *loader) manifestError(err error, path string, cfgLine int, lines map[string]int) {
	var ce *cte.ConfigError
	if !errors.As(err, &ce) {
		l.errs = append(l.errs, &lineError{File: l.file, Line: cfgLine, Path: path, Msg: err.Error()})
		return
	}
	line, p := cfgLine, path
	if ce.Field != "" {
		p = join(path, ce.Field)
		if ln, ok := lines[ce.Field]; ok {
			line = ln
		}
	}
	l.errs = append(l.errs, &lineError{File: l.file, Line: line, Path: p, Msg: ce.Reason})
}

// configValue converts one plugin setting to the JSON type its manifest field
// takes, so `initial_range_days: ${DAYS}` is a number and `app_id: 1234` a string.
func (l *loader) configValue(n *yaml.Node, path string, f cte.Field, known bool) (any, bool) {
	secret := !known || f.Type == cte.FieldPassword
	switch n.Kind {
	case yaml.SequenceNode:
		var out []string
		for _, it := range n.Content {
			s, ok := l.str(it, path)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		if secret {
			for _, s := range out {
				l.addSecret(s)
			}
		}
		if out == nil {
			out = []string{}
		}
		return out, true
	case yaml.ScalarNode:
	default:
		l.errorf(n, path, "must be a value or a list, not %s", kindName(n))
		return nil, false
	}
	if n.Tag == "!!null" {
		return nil, true
	}
	s, ok := l.str(n, path)
	if !ok {
		return nil, false
	}
	if secret {
		l.addSecret(s)
	}
	switch f.Type {
	case cte.FieldNumber:
		if v, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
			return v, true
		}
	case cte.FieldBool:
		if v, err := strconv.ParseBool(strings.TrimSpace(s)); err == nil {
			return v, true
		}
	}
	return s, true
}
