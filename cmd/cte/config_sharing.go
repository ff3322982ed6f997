package main

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ctexchange/cte/sharing"
)

var sharingKeys = []string{"name", "source", "rule", "destination", "target"}

func (l *loader) sharing(n *yaml.Node, cfg *config) []sharingEntry {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		l.errorf(n, "sharing", "must be a list of {name, source, rule, destination, target} entries")
		return nil
	}
	var out []sharingEntry
	names := map[string]int{}
	for i, it := range n.Content {
		path := fmt.Sprintf("sharing[%d]", i)
		if it.Kind != yaml.MappingNode {
			l.errorf(it, path, "must be a mapping with the keys %s", strings.Join(sharingKeys, ", "))
			continue
		}
		s := sharingEntry{index: i, fieldLine: map[string]int{}}
		m := l.mapping(it, path, sharingKeys)
		vals := map[string]string{}
		ok := true
		for _, k := range sharingKeys {
			e, has := m[k]
			if !has {
				l.errorf(it, path+"."+k, "is missing; %s", sharingHint[k])
				ok = false
				continue
			}
			v, good := l.str(e.val, path+"."+k)
			if good && strings.TrimSpace(v) == "" {
				l.errorf(e.val, path+"."+k, "is empty; %s", sharingHint[k])
				good = false
			}
			ok = ok && good
			vals[k] = v
			s.fieldLine[k] = e.val.Line
		}
		if !ok {
			continue
		}
		s.Name, s.Source, s.Rule, s.Destination, s.Target = vals["name"], vals["source"], vals["rule"], vals["destination"], vals["target"]
		if first, dup := names[s.Name]; dup {
			l.errorf(m["name"].val, path+".name", "%q is used twice (first at line %d); give each sharing configuration its own name", s.Name, first)
			continue
		}
		names[s.Name] = m["name"].val.Line
		if !validName(s.Name) {
			l.errorf(m["name"].val, path+".name", "%q is not a usable name; use letters, digits, '-', '_' and '.', at most 64", clipRef(s.Name))
			continue
		}
		good := l.sharingPlugin(cfg, m["source"].val, path+".source", s.Source, true)
		good = l.sharingPlugin(cfg, m["destination"].val, path+".destination", s.Destination, false) && good
		if slices.Contains(l.brokenRules, s.Rule) {
			good = false
		} else if _, found := cfg.rule(s.Rule); !found {
			good = false
			rules := make([]string, len(cfg.Rules))
			for i, r := range cfg.Rules {
				rules[i] = r.Name
			}
			l.errorf(m["rule"].val, path+".rule", "no rule named %q%s; rules: %s", s.Rule, suggest(s.Rule, rules), listOrNone(rules))
		}
		if good && s.Source == s.Destination {
			l.errorf(m["destination"].val, path+".destination", "is the source %q; a sharing configuration goes from one plugin to another", s.Source)
			good = false
		}
		if good {
			out = append(out, s)
		}
	}
	return out
}

var sharingHint = map[string]string{
	"name":        "write a name for this sharing configuration, e.g. name: mimecast-to-netskope",
	"source":      "write the plugin the indicators come from, e.g. source: mimecast",
	"rule":        "write the name of a rule under rules:",
	"destination": "write the plugin to share to, e.g. destination: netskope",
	"target":      "write a target of the destination (cte targets NAME lists them), e.g. target: operation/BLOCK",
}

func (l *loader) sharingPlugin(cfg *config, n *yaml.Node, path, name string, source bool) bool {
	p, ok := cfg.plugin(name)
	if !ok && source && name == sharing.ManualSource {
		return true // the indicators added with cte iocs add
	}
	if !ok {
		names := make([]string, len(cfg.Plugins))
		for i, p := range cfg.Plugins {
			names[i] = p.Name
		}
		l.errorf(n, path, "no plugin named %q%s; plugins: %s", name, suggest(name, names), listOrNone(names))
		return false
	}
	d, ok := l.reg.Driver(p.Type)
	if !ok {
		return false // reported under plugins
	}
	if source && !d.Manifest.Capabilities.Pull {
		l.errorf(n, path, "plugin %q (%s) cannot pull indicators; pick another source", name, p.Type)
		return false
	}
	if !source && !d.Manifest.Capabilities.Push {
		l.errorf(n, path, "plugin %q (%s) cannot receive indicators; pick another destination", name, p.Type)
		return false
	}
	return true
}
