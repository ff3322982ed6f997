package rule

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ctexchange/cte/ioc"
)

// ---- fields and operators ----

// field is one indicator attribute a query can test.
type field uint8

const (
	fType field = iota + 1
	fValue
	fSeverity
	fReputation
	fSource
	fTags
	fComments
	fFirstSeen
	fLastSeen
	fAge
	fExpiresAt
)

var fieldNames = [...]string{"", "type", "value", "severity", "reputation", "source", "tags", "comments",
	"firstSeen", "lastSeen", "age", "expiresAt"}

func (f field) String() string { return fieldNames[f] }

// perSource reports whether the field belongs to one source entry, so the
// reference spelling "sources.<field>" is accepted for it.
func (f field) perSource() bool {
	switch f {
	case fSeverity, fReputation, fSource, fTags, fComments, fFirstSeen, fLastSeen:
		return true
	}
	return false
}

// lookupField finds a field by name, case-insensitively, with or without the
// "sources." prefix of the per-source fields.
func lookupField(s string) (field, bool) {
	name, prefixed := s, false
	if len(s) > 8 && strings.EqualFold(s[:8], "sources.") {
		name, prefixed = s[8:], true
	}
	for i := 1; i < len(fieldNames); i++ {
		if strings.EqualFold(name, fieldNames[i]) {
			f := field(i)
			if prefixed && !f.perSource() {
				return 0, false
			}
			return f, true
		}
	}
	return 0, false
}

// kind is what sort of value a field holds; it decides the operators and
// literals allowed.
type kind uint8

const (
	kType kind = iota
	kSeverity
	kInt
	kString
	kTags
	kTime
	kDuration
)

func (f field) kind() kind {
	switch f {
	case fType:
		return kType
	case fSeverity:
		return kSeverity
	case fReputation:
		return kInt
	case fValue, fSource, fComments:
		return kString
	case fTags:
		return kTags
	case fAge:
		return kDuration
	}
	return kTime
}

// op is a comparison operator.
type op uint8

const (
	opEq op = iota + 1
	opNe
	opLt
	opLe
	opGt
	opGe
	opIn
	opNotIn
	opContains
	opMatches
	opHas
)

var opNames = [...]string{"", "==", "!=", "<", "<=", ">", ">=", "in", "not in", "contains", "matches", "has"}

func (o op) String() string { return opNames[o] }

func (o op) isList() bool { return o == opIn || o == opNotIn }

// ops lists the operators valid for a kind, in the order error messages show them.
func (k kind) ops() []op {
	switch k {
	case kType:
		return []op{opEq, opNe, opIn, opNotIn}
	case kSeverity, kInt:
		return []op{opEq, opNe, opLt, opLe, opGt, opGe, opIn, opNotIn}
	case kString:
		return []op{opEq, opNe, opIn, opNotIn, opContains, opMatches}
	case kTags:
		return []op{opHas, opIn, opNotIn, opContains, opMatches}
	}
	return []op{opEq, opNe, opLt, opLe, opGt, opGe}
}

func (k kind) allows(o op) bool { return slices.Contains(k.ops(), o) }

// ---- AST ----

// expr is a node of the query syntax tree.
type expr interface {
	print(b *strings.Builder)
}

// allExpr matches every indicator.
type allExpr struct{}

// andExpr holds when every operand holds; operands are never andExpr (flattened).
type andExpr struct{ xs []expr }

// orExpr holds when any operand holds; operands are never orExpr (flattened).
type orExpr struct{ xs []expr }

// notExpr negates its operand.
type notExpr struct{ x expr }

// cmpExpr is one clause: field, operator and one value (several for in / not in).
type cmpExpr struct {
	field field
	op    op
	vals  []literal
	eval  pred // compiled clause, shared by Match and Explain
}

// literal is a value in a clause, already interpreted for the field's kind.
type literal struct {
	str string        // kString, kTags: the text; kTime: unused
	typ ioc.Type      // kType
	sev ioc.Severity  // kSeverity
	num int           // kInt
	dur time.Duration // kDuration; kTime when rel: offset from now
	at  time.Time     // kTime when !rel, in UTC
	rel bool          // kTime: relative to now (now, 7d, +7d)
	re  *regexp.Regexp
}

// ---- printing ----

// String returns the canonical form of the query: lower-case keywords, canonical
// field names, quoted strings, minimal parentheses. It parses back to the same
// query.
func (q *Query) String() string {
	var b strings.Builder
	q.root.print(&b)
	return b.String()
}

func (allExpr) print(b *strings.Builder) { b.WriteString("all") }

func (e andExpr) print(b *strings.Builder) {
	for i, x := range e.xs {
		if i > 0 {
			b.WriteString(" and ")
		}
		if _, ok := x.(orExpr); ok {
			b.WriteByte('(')
			x.print(b)
			b.WriteByte(')')
			continue
		}
		x.print(b)
	}
}

func (e orExpr) print(b *strings.Builder) {
	for i, x := range e.xs {
		if i > 0 {
			b.WriteString(" or ")
		}
		x.print(b)
	}
}

func (e notExpr) print(b *strings.Builder) {
	b.WriteString("not (")
	e.x.print(b)
	b.WriteByte(')')
}

func (e *cmpExpr) print(b *strings.Builder) {
	b.WriteString(e.field.String())
	b.WriteByte(' ')
	b.WriteString(e.op.String())
	b.WriteByte(' ')
	if e.op.isList() {
		b.WriteByte('(')
		for i, v := range e.vals {
			if i > 0 {
				b.WriteString(", ")
			}
			v.print(b, e.field.kind())
		}
		b.WriteByte(')')
		return
	}
	e.vals[0].print(b, e.field.kind())
}

func (e *cmpExpr) String() string {
	var b strings.Builder
	e.print(&b)
	return b.String()
}

func (v literal) print(b *strings.Builder, k kind) {
	switch k {
	case kType:
		b.WriteString(v.typ.String())
	case kSeverity:
		b.WriteString(v.sev.String())
	case kInt:
		b.WriteString(strconv.Itoa(v.num))
	case kDuration:
		b.WriteString(formatDuration(v.dur))
	case kTime:
		switch {
		case !v.rel:
			b.WriteString(v.at.Format(time.RFC3339Nano))
		case v.dur == 0:
			b.WriteString("now")
		case v.dur > 0:
			b.WriteByte('+')
			b.WriteString(formatDuration(v.dur))
		default:
			b.WriteString(formatDuration(-v.dur))
		}
	default:
		quote(b, v.str)
	}
}

// quote writes s in double quotes, escaping '"' always and '\' only where the
// lexer would otherwise read an escape (before '"', before '\', at the end), so
// regular expressions print as written.
func quote(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' || (c == '\\' && (i+1 == len(s) || s[i+1] == '"' || s[i+1] == '\\')) {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	b.WriteByte('"')
}
