package sharing

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing/rule"
)

// Rule is a business rule as plain data: a filter query in the language of
// package rule, exceptions that exclude indicators the filter lets through, and
// a mute flag. Compile it with CompileRule.
type Rule struct {
	Name       string      `json:"name" yaml:"name"`
	Filter     string      `json:"filter,omitempty" yaml:"filter,omitempty"` // query; empty matches everything
	Exceptions []Exception `json:"exceptions,omitempty" yaml:"exceptions,omitempty"`
	Muted      bool        `json:"muted,omitempty" yaml:"muted,omitempty"` // the engine shares nothing new while muted
}

// Exception excludes an indicator when its Query matches or when the indicator
// carries any of Tags (compared case-insensitively). An exception needs at least
// one of the two; an empty Query adds no query condition (it does not match
// everything).
type Exception struct {
	Name  string   `json:"name,omitempty" yaml:"name,omitempty"`
	Query string   `json:"query,omitempty" yaml:"query,omitempty"`
	Tags  []string `json:"tags,omitempty" yaml:"tags,omitempty"`
}

// CompiledRule is a Rule ready to evaluate. It is safe for concurrent use.
type CompiledRule struct {
	rule   Rule
	filter *rule.Query
	excs   []compiledException
}

type compiledException struct {
	label string      // `exception "name"` or `exception 2`
	query *rule.Query // nil when the exception has no query
	tags  []string
}

// CompileRule parses the filter and every exception of r. Errors name the rule
// and the exception and wrap the *rule.Error, e.g.
// `rule "hashes": exception "benign": column 6: unknown field "tag": ...`.
func CompileRule(r Rule) (*CompiledRule, error) {
	name := "rule " + strconv.Quote(r.Name)
	if r.Name == "" {
		name = "unnamed rule"
	}
	f, err := rule.Parse(r.Filter)
	if err != nil {
		return nil, fmt.Errorf("%s: filter: %w", name, err)
	}
	r.Exceptions = slices.Clone(r.Exceptions)
	c := &CompiledRule{rule: r, filter: f, excs: make([]compiledException, len(r.Exceptions))}
	for i := range r.Exceptions {
		e := &r.Exceptions[i]
		e.Tags = slices.Clone(e.Tags)
		ce := compiledException{label: "exception " + strconv.Quote(e.Name), tags: e.Tags}
		if e.Name == "" {
			ce.label = "exception " + strconv.Itoa(i+1)
		}
		if strings.TrimSpace(e.Query) == "" && len(e.Tags) == 0 {
			return nil, fmt.Errorf("%s: %s: needs a query or tags", name, ce.label)
		}
		for j, t := range e.Tags {
			if strings.TrimSpace(t) == "" {
				return nil, fmt.Errorf("%s: %s: tag %d is empty", name, ce.label, j+1)
			}
		}
		if strings.TrimSpace(e.Query) != "" {
			if ce.query, err = rule.Parse(e.Query); err != nil {
				return nil, fmt.Errorf("%s: %s: %w", name, ce.label, err)
			}
		}
		c.excs[i] = ce
	}
	return c, nil
}

// Rule returns the rule as compiled (Muted included; muting is the engine's
// business). The caller must not modify its slices.
func (c *CompiledRule) Rule() Rule { return c.rule }

// Filter returns the compiled filter.
func (c *CompiledRule) Filter() *rule.Query { return c.filter }

// Match reports whether the filter matches ind (one source entry of an
// indicator) and no exception does. It ignores Muted.
func (c *CompiledRule) Match(ind *ioc.Indicator, now time.Time) bool {
	if !c.filter.Match(ind, now) {
		return false
	}
	for i := range c.excs {
		if c.excs[i].match(ind, now) {
			return false
		}
	}
	return true
}

func (e *compiledException) match(ind *ioc.Indicator, now time.Time) bool {
	return e.tag(ind) >= 0 || (e.query != nil && e.query.Match(ind, now))
}

// tag returns the index in ind.Tags of the first tag the exception names, or -1.
func (e *compiledException) tag(ind *ioc.Indicator) int {
	for i, t := range ind.Tags {
		for _, x := range e.tags {
			if strings.EqualFold(t, x) {
				return i
			}
		}
	}
	return -1
}

// Explain returns what Match returns and why: the clause of the filter that
// decided, or the exception that excluded the indicator, e.g.
//
//	filter did not match: severity >= high: false (severity is low)
//	excluded by exception "benign": tag "BENIGN"
//	matched: type in (sha256, md5): true (type is md5); no exception matched
func (c *CompiledRule) Explain(ind *ioc.Indicator, now time.Time) (matched bool, why string) {
	if ind == nil {
		return false, "no indicator"
	}
	ok, fwhy := c.filter.Explain(ind, now)
	if !ok {
		return false, "filter did not match: " + fwhy
	}
	for i := range c.excs {
		e := &c.excs[i]
		if j := e.tag(ind); j >= 0 {
			return false, "excluded by " + e.label + ": tag " + strconv.Quote(ioc.Truncate(ind.Tags[j], 40))
		}
		if e.query != nil {
			if r, why := e.query.Explain(ind, now); r {
				return false, "excluded by " + e.label + ": " + why
			}
		}
	}
	s := "matched: " + fwhy
	if len(c.excs) > 0 {
		s += "; no exception matched"
	}
	return true, s
}

// Types returns the indicator types the rule can possibly match, in ioc.Types
// order: every type unless the filter (or an exception) constrains type. A rule
// whose types do not meet a target's types can never share anything to it.
func (c *CompiledRule) Types() []ioc.Type {
	out := c.filter.Types()
	for i := range c.excs {
		e := &c.excs[i]
		if e.query == nil {
			continue // a tag-only exception can exclude any type, or none
		}
		can := e.query.TypesUnmatched()
		out = slices.DeleteFunc(out, func(t ioc.Type) bool { return !slices.Contains(can, t) })
	}
	return out
}
