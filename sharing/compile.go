package sharing

import (
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ctexchange/cte/ioc"
)

// pred is a compiled query or clause. It evaluates one source entry of an
// indicator at the instant now, without allocating.
type pred func(ind *ioc.Indicator, now time.Time) bool

// Match reports whether the query holds for ind, one source entry of an indicator
// (ind.Source is that source), at the instant now (used by age and relative
// times). A nil ind matches nothing.
func (q *Query) Match(ind *ioc.Indicator, now time.Time) bool {
	if ind == nil {
		return false
	}
	return q.eval(ind, now)
}

// Explain says which clause decided the result of Match, with the indicator's
// value for that field, e.g. `severity >= high: false (severity is low)`. When
// every clause of an "and" holds (or none of an "or"), all are listed,
// separated by "; ".
func (q *Query) Explain(ind *ioc.Indicator, now time.Time) string {
	if ind == nil {
		return "no indicator"
	}
	_, why := explain(q.root, ind, now)
	return why
}

func explain(e expr, ind *ioc.Indicator, now time.Time) (bool, string) {
	switch e := e.(type) {
	case allExpr:
		return true, "all: true"
	case notExpr:
		r, why := explain(e.x, ind, now)
		return !r, "not (" + why + ")"
	case andExpr:
		return explainList(e.xs, false, ind, now)
	case orExpr:
		return explainList(e.xs, true, ind, now)
	case *cmpExpr:
		r := e.eval(ind, now)
		return r, e.String() + ": " + strconv.FormatBool(r) + " (" + e.actual(ind, now) + ")"
	}
	panic("sharing: unknown query node")
}

// explainList explains an "and" (decider false) or "or" (decider true): the
// first operand whose result is the decider decides alone; otherwise every
// operand contributed.
func explainList(xs []expr, decider bool, ind *ioc.Indicator, now time.Time) (bool, string) {
	whys := make([]string, 0, len(xs))
	for _, x := range xs {
		r, why := explain(x, ind, now)
		if r == decider {
			return r, why
		}
		whys = append(whys, why)
	}
	return !decider, strings.Join(whys, "; ")
}

// explainWidth is how much of a string field Explain shows: a SHA256 or a
// typical URL whole, not a novel in the comments.
const explainWidth = 100

// actual describes the indicator's value of the clause's field.
func (e *cmpExpr) actual(ind *ioc.Indicator, now time.Time) string {
	name := e.field.String()
	switch e.field {
	case fType:
		return "type is " + ind.Type.String()
	case fSeverity:
		return "severity is " + ind.Severity.String()
	case fReputation:
		s := "reputation is " + strconv.Itoa(ind.Rep())
		if ind.Reputation == 0 {
			s += ", the default"
		}
		return s
	case fValue, fSource, fComments:
		return name + " is " + strconv.Quote(clipN(stringField(e.field, ind), explainWidth))
	case fTags:
		if len(ind.Tags) == 0 {
			return "no tags"
		}
		q := make([]string, len(ind.Tags))
		for i, t := range ind.Tags {
			q[i] = strconv.Quote(clipN(t, explainWidth))
		}
		return "tags are " + strings.Join(q, ", ")
	case fAge:
		if ind.FirstSeen.IsZero() {
			return "age is unknown: firstSeen is unset"
		}
		return "age is " + formatSigned(now.Sub(ind.FirstSeen))
	}
	t := timeField(e.field, ind)
	s := name + " is unset"
	if !t.IsZero() {
		s = name + " is " + t.UTC().Format(time.RFC3339Nano)
	}
	if v := e.vals[0]; v.rel {
		var b strings.Builder
		v.print(&b, kTime)
		if v.dur < 0 {
			b.WriteString(" ago")
		}
		s += ", " + b.String() + " is " + now.Add(v.dur).UTC().Format(time.RFC3339Nano)
	}
	return s
}

// formatSigned prints a duration of any sign, to the second.
func formatSigned(d time.Duration) string {
	d = d.Truncate(time.Second)
	if d < 0 {
		return "-" + formatDuration(-d)
	}
	return formatDuration(d)
}

func stringField(f field, ind *ioc.Indicator) string {
	switch f {
	case fValue:
		return ind.Value
	case fSource:
		return ind.Source
	}
	return ind.Comments
}

func timeField(f field, ind *ioc.Indicator) time.Time {
	switch f {
	case fFirstSeen:
		return ind.FirstSeen
	case fLastSeen:
		return ind.LastSeen
	}
	return ind.ExpiresAt
}

// ---- compilation ----

func compile(e expr) pred {
	switch e := e.(type) {
	case allExpr:
		return func(*ioc.Indicator, time.Time) bool { return true }
	case notExpr:
		x := compile(e.x)
		return func(ind *ioc.Indicator, now time.Time) bool { return !x(ind, now) }
	case andExpr:
		ps := compileList(e.xs)
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
	case orExpr:
		ps := compileList(e.xs)
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
	case *cmpExpr:
		return e.eval
	}
	panic("sharing: unknown query node")
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
		m := domainMask(1, int(ioc.TypeIPv6), c, func(v literal) int { return int(v.typ) })
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
			return cmpResult(op, compareDuration(now.Sub(ind.FirstSeen), d))
		}
	}
	return compileTime(c)
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
			ok = cmpResult(c.op, compareInt(x, val(c.vals[0])))
		}
		if ok {
			m |= 1 << x
		}
	}
	return m
}

func compareInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func compareDuration(a, b time.Duration) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
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

// foldSet is the value list of an in / not in clause, tested case-insensitively.
// Short lists are scanned; long ones (an allowlist of hashes) are kept sorted in
// ASCII lower case and searched by bisection, still without allocating.
type foldSet struct {
	list   []string // every value, as written; scanned when short or for non-ASCII input
	sorted []string // long lists only: the ASCII values, lower-cased and sorted
	other  []string // long lists only: the non-ASCII values (Unicode folding may map them to ASCII)
}

// foldSetScan is the list length up to which a scan beats bisection.
const foldSetScan = 12

func newFoldSet(vals []literal) *foldSet {
	s := &foldSet{list: make([]string, len(vals))}
	for i, v := range vals {
		s.list[i] = v.str
	}
	if len(vals) <= foldSetScan {
		return s
	}
	s.sorted = make([]string, 0, len(vals))
	for _, v := range s.list {
		if isASCII(v) {
			s.sorted = append(s.sorted, strings.ToLower(v))
		} else {
			s.other = append(s.other, v)
		}
	}
	slices.Sort(s.sorted)
	s.sorted = slices.Compact(s.sorted)
	return s
}

func (s *foldSet) has(x string) bool {
	if s.sorted == nil || !isASCII(x) {
		return inFold(x, s.list)
	}
	if _, found := slices.BinarySearchFunc(s.sorted, x, compareLowerASCII); found {
		return true
	}
	return inFold(x, s.other)
}

// compareLowerASCII compares a lower-case ASCII string with x lower-cased.
func compareLowerASCII(lower, x string) int {
	for i := 0; i < len(lower) && i < len(x); i++ {
		a, b := lower[i], lowerASCII(x[i])
		if a != b {
			return int(a) - int(b)
		}
	}
	return len(lower) - len(x)
}

func inFold(s string, list []string) bool {
	for _, x := range list {
		if strings.EqualFold(s, x) {
			return true
		}
	}
	return false
}

// needle is a case-insensitive substring to look for.
type needle struct {
	lower string // strings.ToLower of the literal
	ascii bool   // lower is all ASCII
}

func newNeedle(s string) needle {
	l := strings.ToLower(s)
	return needle{lower: l, ascii: isASCII(l)}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// in reports whether h contains the needle, ignoring case. ASCII text (hashes,
// hosts, most URLs) is searched without allocating; other text is lower-cased
// first.
func (n needle) in(h string) bool {
	if n.lower == "" {
		return true
	}
	if !isASCII(h) {
		return strings.Contains(strings.ToLower(h), n.lower)
	}
	if !n.ascii {
		return false // a non-ASCII needle cannot occur in ASCII text
	}
	first, k := n.lower[0], len(n.lower)
outer:
	for i := 0; i+k <= len(h); i++ {
		if lowerASCII(h[i]) != first {
			continue
		}
		for j := 1; j < k; j++ {
			if lowerASCII(h[i+j]) != n.lower[j] {
				continue outer
			}
		}
		return true
	}
	return false
}
