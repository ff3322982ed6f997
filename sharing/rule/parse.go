package rule

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"time"

	"github.com/ctexchange/cte/ioc"
)

// maxDepth bounds nesting of parentheses and "not", so a hostile query cannot
// exhaust the stack.
const maxDepth = 100

// Query is a parsed, compiled filter. It is safe for concurrent use.
type Query struct {
	root expr
	eval pred
}

// Parse parses and compiles a filter. An empty (or blank) query, "all" and
// "*" match every indicator. Errors are *Error.
func Parse(src string) (*Query, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{src: src, toks: toks}
	var root expr
	if p.peek().kind == tEOF {
		root = allExpr{}
	} else {
		root, err = p.orExpr()
		if err != nil {
			return nil, err
		}
		if t := p.peek(); t.kind != tEOF {
			if t.kind == tRParen {
				return nil, p.errAt(t, `unexpected ")": no "(" to close`)
			}
			return nil, p.errAt(t, `expected "and", "or" or the end of the query, found %s`, desc(t))
		}
	}
	return &Query{root: root, eval: compile(root)}, nil
}

// parser is a recursive-descent parser over the tokens of one query.
type parser struct {
	src   string
	toks  []token
	pos   int
	depth int
	// notParen: the next primary follows a not, whose level it shares, so
	// that the printed form (which writes "not (x)") nests no deeper than
	// the query it prints: "not (not (... all))" of 51 nots counted 102
	// levels, and did not parse back
	notParen bool
}

func (p *parser) peek() token { return p.toks[p.pos] }

func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tEOF {
		p.pos++
	}
	return t
}

func (p *parser) errAt(t token, format string, args ...any) error {
	return &Error{Src: p.src, Col: column(p.src, t.off), Msg: fmt.Sprintf(format, args...)}
}

// found describes a token for "found X" in messages; at the end of the query it
// is empty, so the message reads "expected X" (the column says where).
func found(t token) string {
	if t.kind == tEOF {
		return ""
	}
	return ", found " + desc(t)
}

// desc describes a token other than the end of the query for a message.
func desc(t token) string {
	if t.kind == tString {
		return "string " + strconv.Quote(clip(t.text))
	}
	return strconv.Quote(clip(t.text))
}

func (p *parser) isWord(t token, w string) bool {
	return t.kind == tWord && strings.EqualFold(t.text, w)
}

// orExpr parses operands of "and" joined by "or" (or ||).
func (p *parser) orExpr() (expr, error) { return p.joined(tOr, "or", p.andExpr) }

// andExpr parses unary operands joined by "and" (or &&).
func (p *parser) andExpr() (expr, error) { return p.joined(tAnd, "and", p.unary) }

// joined parses one or more operands separated by the operator sym (tAnd or
// tOr) or its keyword word. An operand that is itself that operator (from
// parentheses) is flattened into the result; a single operand is returned as
// it is.
func (p *parser) joined(sym tokKind, word string, operand func() (expr, error)) (expr, error) {
	var xs []expr
	for {
		x, err := operand()
		if err != nil {
			return nil, err
		}
		if inner, ok := sameOp(sym, x); ok {
			xs = append(xs, inner...)
		} else {
			xs = append(xs, x)
		}
		if t := p.peek(); t.kind != sym && !p.isWord(t, word) {
			break
		}
		p.next()
	}
	switch {
	case len(xs) == 1:
		return xs[0], nil
	case sym == tOr:
		return orExpr{xs: xs}, nil
	}
	return andExpr{xs: xs}, nil
}

// sameOp returns the operands of x when x is the operator sym stands for.
func sameOp(sym tokKind, x expr) ([]expr, bool) {
	switch x := x.(type) {
	case orExpr:
		return x.xs, sym == tOr
	case andExpr:
		return x.xs, sym == tAnd
	}
	return nil, false
}

const expectPrimary = `expected a field name, "not", "all" or "("`

func (p *parser) unary() (expr, error) {
	t := p.peek()
	if t.kind != tNot && !p.isWord(t, "not") {
		return p.primary()
	}
	p.next()
	if p.depth++; p.depth > maxDepth {
		return nil, p.errAt(t, "query nested deeper than %d levels", maxDepth)
	}
	defer func() { p.depth-- }()
	if n := p.peek(); n.kind == tEOF {
		return nil, p.errAt(n, "%s after %q", expectPrimary, t.text)
	}
	p.notParen = true
	x, err := p.unary()
	if err != nil {
		return nil, err
	}
	return notExpr{x: x}, nil
}

func (p *parser) primary() (expr, error) {
	t := p.next()
	shared := p.notParen
	p.notParen = false
	switch {
	case t.kind == tLParen:
		if !shared {
			if p.depth++; p.depth > maxDepth {
				return nil, p.errAt(t, "query nested deeper than %d levels", maxDepth)
			}
			defer func() { p.depth-- }()
		}
		x, err := p.orExpr()
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tRParen {
			return nil, p.errAt(c, `expected ")" to close the "(" at column %d%s`, column(p.src, t.off), found(c))
		}
		return x, nil
	case p.isWord(t, "all"), p.isWord(t, "*"):
		return allExpr{}, nil
	case t.kind == tWord && !isKeyword(t.text):
		return p.comparison(t)
	}
	return nil, p.errAt(t, "%s%s", expectPrimary, found(t))
}

// comparison parses one clause after its field name ft.
func (p *parser) comparison(ft token) (expr, error) {
	f, ok := lookupField(ft.text)
	if !ok {
		return nil, p.errAt(ft, "unknown field %q: want one of %s", clip(ft.text), strings.Join(fieldNames[1:], ", "))
	}
	o, err := p.operator(f)
	if err != nil {
		return nil, err
	}
	c := &cmpExpr{field: f, op: o}
	if !o.isList() {
		vt := p.next()
		v, err := p.literal(f, o, vt, "after "+strconv.Quote(o.String()))
		if err != nil {
			return nil, err
		}
		c.vals = []literal{v}
	} else if c.vals, err = p.list(f, o); err != nil {
		return nil, err
	}
	c.eval = compileCmp(c)
	return c, nil
}

// operator reads the operator of a clause on f and checks that f accepts it.
func (p *parser) operator(f field) (op, error) {
	ot := p.next()
	var o op
	switch ot.kind {
	case tEq:
		o = opEq
	case tNe:
		o = opNe
	case tLt:
		o = opLt
	case tLe:
		o = opLe
	case tGt:
		o = opGt
	case tGe:
		o = opGe
	case tWord:
		switch strings.ToLower(ot.text) {
		case "in":
			o = opIn
		case "contains":
			o = opContains
		case "matches":
			o = opMatches
		case "has":
			o = opHas
		case "not":
			if n := p.next(); !p.isWord(n, "in") {
				return 0, p.errAt(n, `expected "in" after "not"%s`, found(n))
			}
			o = opNotIn
		}
	}
	if o == 0 {
		return 0, p.errAt(ot, "expected an operator after %q (==, !=, <, <=, >, >=, in, not in, contains, matches or has)%s",
			f.String(), found(ot))
	}
	if k := f.kind(); !k.allows(o) {
		return 0, p.errAt(ot, "operator %q is not valid for %s: want %s", o.String(), f.String(), opList(k.ops()))
	}
	return o, nil
}

// list reads the parenthesised values of an in / not in clause.
func (p *parser) list(f field, o op) ([]literal, error) {
	if lp := p.next(); lp.kind != tLParen {
		return nil, p.errAt(lp, `expected "(" after %q%s`, o.String(), found(lp))
	}
	var vals []literal
	for {
		vt := p.next()
		where := "in the list"
		if len(vals) == 0 {
			where = `after "("`
		}
		v, err := p.literal(f, o, vt, where)
		if err != nil {
			return nil, err
		}
		vals = append(vals, v)
		n := p.next()
		if n.kind == tRParen {
			return vals, nil
		}
		if n.kind != tComma {
			return nil, p.errAt(n, `expected "," or ")" in the list%s`, found(n))
		}
	}
}

// isKeyword reports whether a bare word is a keyword that cannot start a clause.
func isKeyword(s string) bool {
	for _, k := range [...]string{"and", "or", "in", "contains", "matches", "has"} {
		if strings.EqualFold(s, k) {
			return true
		}
	}
	return false
}

func opList(ops []op) string {
	s := make([]string, len(ops))
	for i, o := range ops {
		s[i] = o.String()
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

var (
	typeWant     = "sha256, md5, url, domain, hostname, ipv4 or ipv6"
	severityWant = "unknown, low, medium, high or critical"
	timeWant     = "an RFC 3339 time (2024-05-01T12:00:00Z), a date (2024-05-01), now, a duration ago (7d) or ahead (+7d)"
)

// literal reads one value token and interprets it for field f.
func (p *parser) literal(f field, o op, t token, where string) (literal, error) {
	if t.kind != tWord && t.kind != tString {
		return literal{}, p.errAt(t, "expected a value %s%s", where, found(t))
	}
	s := t.text
	if t.kind == tWord && len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		// the quotes would be part of the value, which then matched nothing
		return literal{}, p.errAt(t, "%s: quote a value with double quotes (\"%s\"), not single ones", clip(s), clip(s[1:len(s)-1]))
	}
	switch f.kind() {
	case kType:
		typ, err := ioc.ParseType(s)
		if err != nil {
			return literal{}, p.errAt(t, "%q is not an indicator type: want %s", clip(s), typeWant)
		}
		return literal{typ: typ}, nil
	case kSeverity:
		sev, err := ioc.ParseSeverity(s)
		if err != nil || strings.TrimSpace(s) == "" {
			return literal{}, p.errAt(t, "%q is not a severity: want %s", clip(s), severityWant)
		}
		return literal{sev: sev}, nil
	case kInt:
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 10 {
			return literal{}, p.errAt(t, "%q is not a reputation: want a whole number from 1 to 10", clip(s))
		}
		return literal{num: n}, nil
	case kDuration:
		d, err := ParseDuration(s)
		if err != nil {
			return literal{}, p.errAt(t, "%s", err)
		}
		return literal{dur: d}, nil
	case kTime:
		return p.timeLiteral(t)
	}
	// kString, kTags
	if f == fValue && (o == opEq || o == opNe || o.isList()) {
		s = valueLiteral(s)
	}
	v := literal{str: s}
	if o == opMatches {
		re, err := regexp.Compile(s)
		if err != nil {
			msg := err.Error()
			if se := (*syntax.Error)(nil); errors.As(err, &se) {
				msg = fmt.Sprintf("%s: %q", se.Code, clip(se.Expr))
			}
			return literal{}, p.errAt(t, "invalid regular expression %q: %s", clip(s), msg)
		}
		v.re = re
	}
	return v, nil
}

// valueLiteral is a value compared whole (==, !=, in) in the form values are
// stored in, when it is an indicator cte knows: "http://Evil.example" is
// http://evil.example/, bücher.example is xn--bcher-kva.example. Written as
// the analyst wrote it, it never matched the stored value, and an exception
// meant to keep a value from a target silently kept nothing. A value that
// is no indicator is compared as written (in any case).
func valueLiteral(s string) string {
	t, ok := ioc.Detect(s)
	if !ok {
		return s
	}
	if _, v, err := ioc.Normalize(t, s); err == nil {
		return v
	}
	return s
}

// timeLiteral reads an absolute time, now, or a duration ago (7d, -7d) or ahead
// (+7d).
func (p *parser) timeLiteral(t token) (literal, error) {
	s := t.text
	if strings.EqualFold(s, "now") {
		return literal{rel: true}, nil
	}
	sign, body := time.Duration(-1), s
	if s != "" && (s[0] == '+' || s[0] == '-') {
		if s[0] == '+' {
			sign = 1
		}
		body = s[1:]
	}
	switch d, res := parseDuration(body); res {
	case durOK:
		return literal{rel: true, dur: sign * d}, nil
	case durTooLong, durFraction:
		return literal{}, p.errAt(t, "%s", durationError(s, res))
	}
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		at, err = time.Parse(time.DateOnly, s)
	}
	if err != nil {
		return literal{}, p.errAt(t, "%q is not a time: want %s", clip(s), timeWant)
	}
	at = at.UTC()
	if y := at.Year(); y < 1 || y > 9999 {
		return literal{}, p.errAt(t, "time %q is out of range: want a year from 0001 to 9999", clip(s))
	}
	return literal{at: at}, nil
}
