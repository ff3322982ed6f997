package sharing

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ctexchange/cte/ioc"
)

// Rule is a business rule as plain data: a filter query, exceptions that exclude
// indicators the filter lets through, and a mute flag. Compile it with
// CompileRule.
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
	filter *Query
	excs   []compiledException
}

type compiledException struct {
	label string // `exception "name"` or `exception 2`
	query *Query // nil when the exception has no query
	tags  []string
}

// CompileRule parses the filter and every exception of r. Errors name the rule
// and the exception and wrap the *QueryError, e.g.
// `rule "hashes": exception "benign": column 6: unknown field "tag": ...`.
func CompileRule(r Rule) (*CompiledRule, error) {
	name := "rule " + strconv.Quote(r.Name)
	if r.Name == "" {
		name = "unnamed rule"
	}
	f, err := ParseQuery(r.Filter)
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
			if ce.query, err = ParseQuery(e.Query); err != nil {
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
func (c *CompiledRule) Filter() *Query { return c.filter }

// Match reports whether the filter matches ind (one source entry of an
// indicator) and no exception does. It ignores Muted.
func (c *CompiledRule) Match(ind *ioc.Indicator, now time.Time) bool {
	if ind == nil || !c.filter.eval(ind, now) {
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
	return e.tag(ind) >= 0 || (e.query != nil && e.query.eval(ind, now))
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
	ok, fwhy := explain(c.filter.root, ind, now)
	if !ok {
		return false, "filter did not match: " + fwhy
	}
	for i := range c.excs {
		e := &c.excs[i]
		if j := e.tag(ind); j >= 0 {
			return false, "excluded by " + e.label + ": tag " + strconv.Quote(clip(ind.Tags[j]))
		}
		if e.query != nil {
			if r, why := explain(e.query.root, ind, now); r {
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
	can := typeSets(c.filter.root).canTrue
	for i := range c.excs {
		e := &c.excs[i]
		if e.query == nil {
			continue // a tag-only exception can exclude any type, or none
		}
		can &= typeSets(e.query.root).canFalse
	}
	var out []ioc.Type
	for _, t := range ioc.Types() {
		if can>>t&1 != 0 {
			out = append(out, t)
		}
	}
	return out
}

// Types returns the indicator types the query can possibly match, in ioc.Types
// order.
func (q *Query) Types() []ioc.Type {
	can := typeSets(q.root).canTrue
	var out []ioc.Type
	for _, t := range ioc.Types() {
		if can>>t&1 != 0 {
			out = append(out, t)
		}
	}
	return out
}

// typeSet is a bit set of ioc.Type (bit t for type t).
type typeSet uint32

var allTypes = func() typeSet {
	var s typeSet
	for _, t := range ioc.Types() {
		s |= 1 << t
	}
	return s
}()

// sets holds, for a query node, the types for which it can be true and the
// types for which it can be false. Only clauses on type narrow them; any other
// clause can go either way for every type.
type sets struct{ canTrue, canFalse typeSet }

func typeSets(e expr) sets {
	switch e := e.(type) {
	case allExpr:
		return sets{canTrue: allTypes}
	case notExpr:
		s := typeSets(e.x)
		return sets{canTrue: s.canFalse, canFalse: s.canTrue}
	case andExpr:
		out := sets{canTrue: allTypes}
		for _, x := range e.xs {
			s := typeSets(x)
			out.canTrue &= s.canTrue
			out.canFalse |= s.canFalse
		}
		return out
	case orExpr:
		out := sets{canFalse: allTypes}
		for _, x := range e.xs {
			s := typeSets(x)
			out.canTrue |= s.canTrue
			out.canFalse &= s.canFalse
		}
		return out
	case *cmpExpr:
		if e.field != fType {
			return sets{canTrue: allTypes, canFalse: allTypes}
		}
		m := typeSet(domainMask(1, int(ioc.TypeIPv6), e, func(v literal) int { return int(v.typ) }))
		return sets{canTrue: m, canFalse: allTypes &^ m}
	}
	panic("sharing: unknown query node")
}
