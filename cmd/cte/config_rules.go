package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/rule"
)

var ruleKeys = []string{"filter", "exceptions", "muted"}

var exceptionKeys = []string{"name", "query", "tags"}

func (l *loader) rules(n *yaml.Node) []sharing.Rule {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "rules", `must map rule names to rules, e.g. rules: {all-hashes: {filter: "type in (sha256, md5)"}}`)
		return nil
	}
	var out []sharing.Rule
	for path, e := range l.namedMappings(n, "rules", ruleKeys) {
		r := sharing.Rule{Name: e.key.Value}
		m := l.mapping(e.val, path, ruleKeys)
		before := len(l.errs)
		if f, ok := m["filter"]; !ok {
			l.errorf(e.key, path+".filter", `is missing; write e.g. filter: "type in (sha256, md5)", or filter: all`)
		} else if s, ok := l.query(f.val, path+".filter"); ok {
			r.Filter = s
		}
		if x, ok := m["exceptions"]; ok {
			r.Exceptions = l.exceptions(x.val, path+".exceptions")
		}
		if mu, ok := m["muted"]; ok {
			if s, ok := l.str(mu.val, path+".muted"); ok {
				b, err := strconv.ParseBool(s)
				if err != nil {
					l.errorf(mu.val, path+".muted", "%q is not true or false", s)
				}
				r.Muted = b
			}
		}
		if len(l.errs) == before {
			if _, err := sharing.CompileRule(r); err != nil {
				l.errorf(e.key, path, "%v", err)
			}
		}
		if len(l.errs) > before {
			l.brokenRules = append(l.brokenRules, r.Name) // reported; sharing entries naming it are not
			continue
		}
		out = append(out, r)
	}
	return out
}

// query reads and parses a query, reporting a syntax error with its column.
func (l *loader) query(n *yaml.Node, path string) (string, bool) {
	s, ok := l.str(n, path)
	if !ok {
		return "", false
	}
	if strings.TrimSpace(s) == "" {
		l.errorf(n, path, "is empty; write a query such as type == sha256, or all")
		return "", false
	}
	if _, err := rule.Parse(s); err != nil {
		var qe *rule.Error
		if errors.As(err, &qe) {
			l.errorf(n, path, "%v\n    %s", err, strings.ReplaceAll(qe.Pointer(), "\n", "\n    "))
		} else {
			l.errorf(n, path, "%v", err)
		}
		return "", false
	}
	return s, true
}

func (l *loader) exceptions(n *yaml.Node, path string) []sharing.Exception {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		l.errorf(n, path, `must be a list of queries or {name, query, tags} entries, e.g. ["tags has benign"]`)
		return nil
	}
	var out []sharing.Exception
	for i, it := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		if it.Kind == yaml.ScalarNode {
			if q, ok := l.query(it, p); ok {
				out = append(out, sharing.Exception{Query: q})
			}
			continue
		}
		if it.Kind != yaml.MappingNode {
			l.errorf(it, p, "must be a query or a mapping with the keys %s", strings.Join(exceptionKeys, ", "))
			continue
		}
		var x sharing.Exception
		m := l.mapping(it, p, exceptionKeys)
		if v, ok := m["name"]; ok {
			x.Name, _ = l.str(v.val, p+".name")
		}
		if v, ok := m["query"]; ok {
			x.Query, _ = l.query(v.val, p+".query")
		}
		if v, ok := m["tags"]; ok {
			x.Tags = l.strList(v.val, p+".tags")
			if v.val.Kind == yaml.SequenceNode && len(v.val.Content) == 0 {
				l.errorf(v.val, p+".tags", "is empty: list the tags that exempt a value, e.g. tags: [benign], or remove the exception")
				continue
			}
		}
		if x.Query == "" && len(x.Tags) == 0 {
			if _, q := m["query"]; !q {
				if _, t := m["tags"]; !t {
					l.errorf(it, p, "needs a query or tags; write e.g. query: severity == low, or tags: [benign]")
				}
			}
			continue
		}
		out = append(out, x)
	}
	return out
}

func (l *loader) strList(n *yaml.Node, path string) []string {
	if n.Kind == yaml.ScalarNode {
		s, ok := l.str(n, path)
		if !ok || strings.TrimSpace(s) == "" {
			if ok {
				l.errorf(n, path, "is empty; write a tag or a list of tags")
			}
			return nil
		}
		return []string{s}
	}
	if n.Kind != yaml.SequenceNode {
		l.errorf(n, path, "must be a list of tags")
		return nil
	}
	var out []string
	for i, it := range n.Content {
		s, ok := l.str(it, fmt.Sprintf("%s[%d]", path, i))
		if !ok {
			continue
		}
		if strings.TrimSpace(s) == "" {
			l.errorf(it, fmt.Sprintf("%s[%d]", path, i), "is empty; write a tag")
			continue
		}
		out = append(out, s)
	}
	return out
}
