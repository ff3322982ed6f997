package rule

import (
	"strconv"
	"strings"
	"time"

	"github.com/ctexchange/cte/ioc"
)

// Explain returns what Match returns and which clause decided it, with the
// indicator's value for that field, e.g.
//
//	severity >= high: false (severity is low)
//
// When every clause of an "and" holds (or none of an "or"), all are listed,
// separated by "; ". A nil ind matches nothing: "no indicator".
func (q *Query) Explain(ind *ioc.Indicator, now time.Time) (matched bool, why string) {
	if ind == nil {
		return false, "no indicator"
	}
	return explain(q.root, ind, now)
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
	panic("rule: unknown query node")
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
		return name + " is " + strconv.Quote(ioc.Truncate(stringField(e.field, ind), explainWidth))
	case fTags:
		if len(ind.Tags) == 0 {
			return "no tags"
		}
		q := make([]string, len(ind.Tags))
		for i, t := range ind.Tags {
			q[i] = strconv.Quote(ioc.Truncate(t, explainWidth))
		}
		return "tags are " + strings.Join(q, ", ")
	case fAge:
		if ind.FirstSeen.IsZero() {
			return "age is unknown: firstSeen is unset"
		}
		return "age is " + formatSigned(now.Sub(ind.FirstSeen))
	}
	return e.actualTime(ind, now)
}

// actualTime describes a time field, and for a relative clause the instant it
// compares with.
func (e *cmpExpr) actualTime(ind *ioc.Indicator, now time.Time) string {
	name := e.field.String()
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
