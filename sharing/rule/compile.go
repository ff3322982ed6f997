package rule

import (
	"cmp"
	"strings"
	"time"

	"github.com/ctexchange/cte/ioc"
)

// pred is a compiled query or clause. It evaluates one source entry of an
// indicator at the instant now, without allocating.
type pred func(ind *ioc.Indicator, now time.Time) bool

// compile turns a tree into one closure; clauses are compiled as they are
// parsed (cmpExpr.eval), so this only joins them.
func compile(e expr) pred {
	switch e := e.(type) {
	case allExpr:
		return func(*ioc.Indicator, time.Time) bool { return true }
	case notExpr:
		x := compile(e.x)
		return func(ind *ioc.Indicator, now time.Time) bool { return !x(ind, now) }
	case andExpr:
		return compileAnd(compileList(e.xs))
	case orExpr:
		return compileOr(compileList(e.xs))
	case *cmpExpr:
		return e.eval
	}
	panic("rule: unknown query node")
}

// compileAnd joins operands with "and"; two and three operands, the common
// cases, are unrolled.
func compileAnd(ps []pred) pred {
	switch len(ps) {
	case 2:
		a, b := ps[0], ps[1]
		return func(ind *ioc.Indicator, now time.Time) bool { return a(ind, now) && b(ind, now) }
	case 3:
		a, b, c := ps[0], ps[1], ps[2]
		return func(ind *ioc.Indicator, now time.Time) bool { return a(ind, now) && b(ind, now) && c(ind, now) }
	}
	return func(ind *ioc.Indicator, now time.Time) bool {
		for _, p := range ps {
			if !p(ind, now) {
				return false
			}
		}
		return true
	}
}

// compileOr joins operands with "or", like compileAnd.
func compileOr(ps []pred) pred {
	switch len(ps) {
	case 2:
		a, b := ps[0], ps[1]
		return func(ind *ioc.Indicator, now time.Time) bool { return a(ind, now) || b(ind, now) }
	case 3:
		a, b, c := ps[0], ps[1], ps[2]
		return func(ind *ioc.Indicator, now time.Time) bool { return a(ind, now) || b(ind, now) || c(ind, now) }
	}
	return func(ind *ioc.Indicator, now time.Time) bool {
		for _, p := range ps {
			if p(ind, now) {
				return true
			}
		}
		return false
	}
}

func compileList(xs []expr) []pred {
	ps := make([]pred, len(xs))
	for i, x := range xs {
		ps[i] = compile(x)
	}
	return ps
}

// compileCmp turns one clause into a closure. Enumerated fields (type, severity,
// reputation) become a bit set of the values that satisfy the clause.
func compileCmp(c *cmpExpr) pred {
	switch c.field.kind() {
	case kType:
		m := typeMask(c)
		return func(ind *ioc.Indicator, _ time.Time) bool { return m>>ind.Type&1 != 0 }
	case kSeverity:
		m := domainMask(0, int(ioc.SeverityCritical), c, func(v literal) int { return int(v.sev) })
		return func(ind *ioc.Indicator, _ time.Time) bool { return m>>ind.Severity&1 != 0 }
	case kInt:
		m := domainMask(1, 10, c, func(v literal) int { return v.num })
		return func(ind *ioc.Indicator, _ time.Time) bool { return m>>ind.Rep()&1 != 0 }
	case kString:
		return compileString(c)
	case kTags:
		return compileTags(c)
	case kDuration:
		op, d := c.op, c.vals[0].dur
		return func(ind *ioc.Indicator, now time.Time) bool {
			if ind.FirstSeen.IsZero() {
				return op == opNe
			}
			return cmpResult(op, cmp.Compare(now.Sub(ind.FirstSeen), d))
		}
	}
	return compileTime(c)
}

// typeMask is the set of indicator types for which a clause on type holds.
func typeMask(c *cmpExpr) uint32 {
	return domainMask(1, int(ioc.TypeIPv6), c, func(v literal) int { return int(v.typ) })
}

// domainMask returns the set of values in [lo, hi] for which the clause holds,
// as bits of a uint32.
func domainMask(lo, hi int, c *cmpExpr, val func(literal) int) uint32 {
	var m uint32
	for x := lo; x <= hi; x++ {
		in := false
		for _, v := range c.vals {
			if x == val(v) {
				in = true
			}
		}
		var ok bool
		switch c.op {
		case opIn:
			ok = in
		case opNotIn:
			ok = !in
		default:
			ok = cmpResult(c.op, cmp.Compare(x, val(c.vals[0])))
		}
		if ok {
			m |= 1 << x
		}
	}
	return m
}

// cmpResult applies a comparison operator to the sign of a comparison.
func cmpResult(o op, c int) bool {
	switch o {
	case opEq:
		return c == 0
	case opNe:
		return c != 0
	case opLt:
		return c < 0
	case opLe:
		return c <= 0
	case opGt:
		return c > 0
	case opGe:
		return c >= 0
	}
	return false
}

func compileTime(c *cmpExpr) pred {
	op, v := c.op, c.vals[0]
	var get func(*ioc.Indicator) time.Time
	switch c.field {
	case fFirstSeen:
		get = func(ind *ioc.Indicator) time.Time { return ind.FirstSeen }
	case fLastSeen:
		get = func(ind *ioc.Indicator) time.Time { return ind.LastSeen }
	default:
		get = func(ind *ioc.Indicator) time.Time { return ind.ExpiresAt }
	}
	if v.rel {
		off := v.dur
		return func(ind *ioc.Indicator, now time.Time) bool {
			t := get(ind)
			if t.IsZero() {
				return op == opNe
			}
			return cmpResult(op, t.Compare(now.Add(off)))
		}
	}
	at := v.at
	return func(ind *ioc.Indicator, _ time.Time) bool {
		t := get(ind)
		if t.IsZero() {
			return op == opNe
		}
		return cmpResult(op, t.Compare(at))
	}
}

func compileString(c *cmpExpr) pred {
	var get func(*ioc.Indicator) string
	switch c.field {
	case fValue:
		get = func(ind *ioc.Indicator) string { return ind.Value }
	case fSource:
		get = func(ind *ioc.Indicator) string { return ind.Source }
	default:
		get = func(ind *ioc.Indicator) string { return ind.Comments }
	}
	switch c.op {
	case opEq:
		s := c.vals[0].str
		return func(ind *ioc.Indicator, _ time.Time) bool { return strings.EqualFold(get(ind), s) }
	case opNe:
		s := c.vals[0].str
		return func(ind *ioc.Indicator, _ time.Time) bool { return !strings.EqualFold(get(ind), s) }
	case opIn, opNotIn:
		set, want := newFoldSet(c.vals), c.op == opIn
		return func(ind *ioc.Indicator, _ time.Time) bool { return set.has(get(ind)) == want }
	case opContains:
		n := newNeedle(c.vals[0].str)
		return func(ind *ioc.Indicator, _ time.Time) bool { return n.in(get(ind)) }
	}
	re := c.vals[0].re
	return func(ind *ioc.Indicator, _ time.Time) bool { return re.MatchString(get(ind)) }
}

func compileTags(c *cmpExpr) pred {
	switch c.op {
	case opHas:
		s := c.vals[0].str
		return func(ind *ioc.Indicator, _ time.Time) bool {
			for _, t := range ind.Tags {
				if strings.EqualFold(t, s) {
					return true
				}
			}
			return false
		}
	case opIn, opNotIn:
		set, want := newFoldSet(c.vals), c.op == opIn
		return func(ind *ioc.Indicator, _ time.Time) bool {
			for _, t := range ind.Tags {
				if set.has(t) {
					return want
				}
			}
			return !want
		}
	case opContains:
		n := newNeedle(c.vals[0].str)
		return func(ind *ioc.Indicator, _ time.Time) bool {
			for _, t := range ind.Tags {
				if n.in(t) {
					return true
				}
			}
			return false
		}
	}
	re := c.vals[0].re
	return func(ind *ioc.Indicator, _ time.Time) bool {
		for _, t := range ind.Tags {
			if re.MatchString(t) {
				return true
			}
		}
		return false
	}
}
