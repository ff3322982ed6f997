package sharing

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ctexchange/cte/ioc"
)

// QueryError is a query that does not parse: the column (1-based, in characters)
// where the problem is and what was expected there.
type QueryError struct {
	Src string // the whole query
	Col int    // 1-based column of the offending token; len+1 at the end of the query
	Msg string // what is wrong and what was expected
}

// Error returns "column N: message".
func (e *QueryError) Error() string { return fmt.Sprintf("column %d: %s", e.Col, e.Msg) }

// Pointer returns the line of the query holding the error and, below it, a caret
// under the column, for showing the error to a person in a terminal.
func (e *QueryError) Pointer() string {
	// Find the byte offset of the column, then the line around it.
	off, n := 0, 1
	for off < len(e.Src) && n < e.Col {
		_, size := utf8.DecodeRuneInString(e.Src[off:])
		off += size
		n++
	}
	start := strings.LastIndexByte(e.Src[:off], '\n') + 1
	end := len(e.Src)
	if i := strings.IndexByte(e.Src[off:], '\n'); i >= 0 {
		end = off + i
	}
	var pad strings.Builder
	for _, r := range e.Src[start:off] {
		if r == '\t' {
			pad.WriteByte('\t') // keep the caret aligned under tabs
		} else {
			pad.WriteByte(' ')
		}
	}
	return e.Src[start:end] + "\n" + pad.String() + "^"
}

// maxDepth bounds nesting of parentheses and "not", so a hostile query cannot
// exhaust the stack.
const maxDepth = 100

// maxDuration is the longest duration a literal may state (about 100 years).
const maxDuration = 36500 * 24 * time.Hour

// Query is a parsed, compiled filter. It is safe for concurrent use.
type Query struct {
	root expr
	eval pred
}

// ParseQuery parses and compiles a filter. An empty (or blank) query, "all" and
// "*" match every indicator. Errors are *QueryError.
func ParseQuery(src string) (*Query, error) {
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

// String returns the canonical form of the query: lower-case keywords, canonical
// field names, quoted strings, minimal parentheses. It parses back to the same
// query.
func (q *Query) String() string {
	var b strings.Builder
	q.root.print(&b)
	return b.String()
}

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

func (k kind) allows(o op) bool {
	for _, x := range k.ops() {
		if x == o {
			return true
		}
	}
	return false
}

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

// formatDuration prints d (>= 0, whole seconds) as days, hours, minutes and
// seconds, e.g. 1d12h, 90m -> 1h30m, 0 -> 0s.
func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	var b []byte
	for _, u := range durationUnits {
		if u.unit == 'w' {
			continue
		}
		if n := d / u.d; n > 0 {
			b = strconv.AppendInt(b, int64(n), 10)
			b = append(b, u.unit)
			d -= n * u.d
		}
	}
	return string(b)
}

var durationUnits = [...]struct {
	unit byte
	d    time.Duration
}{{'w', 7 * 24 * time.Hour}, {'d', 24 * time.Hour}, {'h', time.Hour}, {'m', time.Minute}, {'s', time.Second}}

// parseDuration reads one or more <digits><unit> pairs, units w d h m s, e.g. 30d,
// 1d12h, 90m.
func parseDuration(s string) (time.Duration, bool) {
	if s == "" {
		return 0, false
	}
	var total time.Duration
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 || i == len(s) || i > 10 {
			return 0, false
		}
		n, _ := strconv.ParseInt(s[:i], 10, 64) // at most 10 digits: fits
		var unit time.Duration
		for _, u := range durationUnits {
			if u.unit == s[i] {
				unit = u.d
			}
		}
		if unit == 0 {
			return 0, false
		}
		if n > int64(maxDuration/unit) {
			return maxDuration + 1, true
		}
		total += time.Duration(n) * unit
		if total > maxDuration {
			return maxDuration + 1, true
		}
		s = s[i+1:]
	}
	return total, true
}

// ---- lexer ----

type tokKind uint8

const (
	tEOF tokKind = iota
	tWord
	tString
	tLParen
	tRParen
	tComma
	tEq
	tNe
	tLt
	tLe
	tGt
	tGe
	tAnd // &&
	tOr  // ||
	tNot // !
)

type token struct {
	kind tokKind
	text string // the source text; for tString the unescaped value
	off  int    // byte offset in the source
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// isDelim reports whether c ends a bare word.
func isDelim(c byte) bool {
	switch c {
	case '(', ')', ',', '"', '=', '!', '<', '>', '&', '|':
		return true
	}
	return isSpace(c)
}

func column(src string, off int) int { return utf8.RuneCountInString(src[:off]) + 1 }

func lex(src string) ([]token, error) {
	var toks []token
	errAt := func(off int, format string, args ...any) error {
		return &QueryError{Src: src, Col: column(src, off), Msg: fmt.Sprintf(format, args...)}
	}
	two := func(i int, c byte) bool { return i+1 < len(src) && src[i+1] == c }
	for i := 0; i < len(src); {
		c := src[i]
		start := i
		var k tokKind
		switch {
		case isSpace(c):
			i++
			continue
		case c == '(':
			k, i = tLParen, i+1
		case c == ')':
			k, i = tRParen, i+1
		case c == ',':
			k, i = tComma, i+1
		case c == '=':
			k, i = tEq, i+1
			if two(start, '=') {
				i++
			}
		case c == '!':
			k, i = tNot, i+1
			if two(start, '=') {
				k, i = tNe, i+1
			}
		case c == '<':
			k, i = tLt, i+1
			if two(start, '=') {
				k, i = tLe, i+1
			}
		case c == '>':
			k, i = tGt, i+1
			if two(start, '=') {
				k, i = tGe, i+1
			}
		case c == '&':
			if !two(start, '&') {
				return nil, errAt(start, `a single "&": write "&&" or "and"`)
			}
			k, i = tAnd, i+2
		case c == '|':
			if !two(start, '|') {
				return nil, errAt(start, `a single "|": write "||" or "or"`)
			}
			k, i = tOr, i+2
		case c == '"':
			s, n, err := lexString(src, start)
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{kind: tString, text: s, off: start})
			i = n
			continue
		default:
			for i < len(src) && !isDelim(src[i]) {
				i++
			}
			k = tWord
		}
		toks = append(toks, token{kind: k, text: src[start:i], off: start})
	}
	return append(toks, token{kind: tEOF, off: len(src)}), nil
}

// lexString reads a double-quoted string starting at src[start] == '"' and
// returns its value and the offset after the closing quote. \" is a quote and
// \\ a backslash; any other backslash is kept as written, so a regular
// expression like "\d+\.example" needs no doubling.
func lexString(src string, start int) (string, int, error) {
	var b strings.Builder
	plain := true // no escape seen yet: the value is a slice of src
	for i := start + 1; i < len(src); i++ {
		switch c := src[i]; {
		case c == '"':
			if plain {
				return src[start+1 : i], i + 1, nil
			}
			return b.String(), i + 1, nil
		case c == '\\' && i+1 < len(src) && (src[i+1] == '"' || src[i+1] == '\\'):
			if plain {
				plain = false
				b.WriteString(src[start+1 : i])
			}
			b.WriteByte(src[i+1])
			i++
		case !plain:
			b.WriteByte(c)
		}
	}
	return "", 0, &QueryError{Src: src, Col: column(src, start), Msg: `unterminated string: missing closing "`}
}

// ---- parser ----

type parser struct {
	src   string
	toks  []token
	pos   int
	depth int
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
	return &QueryError{Src: p.src, Col: column(p.src, t.off), Msg: fmt.Sprintf(format, args...)}
}

// found describes a token for "found X" in messages; at the end of the query it
// is empty, so the message reads "expected X" (the column says where).
func found(t token) string {
	if t.kind == tEOF {
		return ""
	}
	return ", found " + desc(t)
}

func desc(t token) string {
	switch t.kind {
	case tEOF:
		return "the end of the query"
	case tString:
		return "string " + strconv.Quote(clip(t.text))
	}
	return strconv.Quote(clip(t.text))
}

// clip shortens s for an error message.
func clip(s string) string { return clipN(s, 40) }

// clipN shortens s to about n bytes, on a character boundary.
func clipN(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func (p *parser) isWord(t token, w string) bool {
	return t.kind == tWord && strings.EqualFold(t.text, w)
}

func (p *parser) orExpr() (expr, error) {
	var xs []expr
	for {
		x, err := p.andExpr()
		if err != nil {
			return nil, err
		}
		if o, ok := x.(orExpr); ok {
			xs = append(xs, o.xs...)
		} else {
			xs = append(xs, x)
		}
		t := p.peek()
		if t.kind != tOr && !p.isWord(t, "or") {
			break
		}
		p.next()
	}
	if len(xs) == 1 {
		return xs[0], nil
	}
	return orExpr{xs: xs}, nil
}

func (p *parser) andExpr() (expr, error) {
	var xs []expr
	for {
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		if a, ok := x.(andExpr); ok {
			xs = append(xs, a.xs...)
		} else {
			xs = append(xs, x)
		}
		t := p.peek()
		if t.kind != tAnd && !p.isWord(t, "and") {
			break
		}
		p.next()
	}
	if len(xs) == 1 {
		return xs[0], nil
	}
	return andExpr{xs: xs}, nil
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
	x, err := p.unary()
	if err != nil {
		return nil, err
	}
	return notExpr{x: x}, nil
}

func (p *parser) primary() (expr, error) {
	t := p.next()
	switch {
	case t.kind == tLParen:
		if p.depth++; p.depth > maxDepth {
			return nil, p.errAt(t, "query nested deeper than %d levels", maxDepth)
		}
		defer func() { p.depth-- }()
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

func (p *parser) comparison(ft token) (expr, error) {
	f, ok := lookupField(ft.text)
	if !ok {
		return nil, p.errAt(ft, "unknown field %q: want one of %s", clip(ft.text), strings.Join(fieldNames[1:], ", "))
	}
	k := f.kind()
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
				return nil, p.errAt(n, `expected "in" after "not"%s`, found(n))
			}
			o = opNotIn
		}
	}
	if o == 0 {
		return nil, p.errAt(ot, "expected an operator after %q (==, !=, <, <=, >, >=, in, not in, contains, matches or has)%s",
			f.String(), found(ot))
	}
	if !k.allows(o) {
		return nil, p.errAt(ot, "operator %q is not valid for %s: want %s", o.String(), f.String(), opList(k.ops()))
	}
	c := &cmpExpr{field: f, op: o}
	if !o.isList() {
		vt := p.next()
		v, err := p.literal(f, o, vt, "after "+strconv.Quote(o.String()))
		if err != nil {
			return nil, err
		}
		c.vals = []literal{v}
	} else {
		if lp := p.next(); lp.kind != tLParen {
			return nil, p.errAt(lp, `expected "(" after %q%s`, o.String(), found(lp))
		}
		for {
			vt := p.next()
			where := "in the list"
			if len(c.vals) == 0 {
				where = `after "("`
			}
			v, err := p.literal(f, o, vt, where)
			if err != nil {
				return nil, err
			}
			c.vals = append(c.vals, v)
			n := p.next()
			if n.kind == tRParen {
				break
			}
			if n.kind != tComma {
				return nil, p.errAt(n, `expected "," or ")" in the list%s`, found(n))
			}
		}
	}
	c.eval = compileCmp(c)
	return c, nil
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
	durationWant = "a number and a unit (w, d, h, m or s), like 30d, 12h or 90m"
	timeWant     = "an RFC 3339 time (2024-05-01T12:00:00Z), a date (2024-05-01), now, a duration ago (7d) or ahead (+7d)"
)

// literal reads one value token and interprets it for field f.
func (p *parser) literal(f field, o op, t token, where string) (literal, error) {
	if t.kind != tWord && t.kind != tString {
		return literal{}, p.errAt(t, "expected a value %s%s", where, found(t))
	}
	s := t.text
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
		d, ok := parseDuration(s)
		if !ok {
			return literal{}, p.errAt(t, "%q is not a duration: want %s", clip(s), durationWant)
		}
		if d > maxDuration {
			return literal{}, p.errAt(t, "duration %q is too long: at most %s", clip(s), formatDuration(maxDuration))
		}
		return literal{dur: d}, nil
	case kTime:
		return p.timeLiteral(t)
	}
	// kString, kTags
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
	if d, ok := parseDuration(body); ok {
		if d > maxDuration {
			return literal{}, p.errAt(t, "duration %q is too long: at most %s", clip(s), formatDuration(maxDuration))
		}
		return literal{rel: true, dur: sign * d}, nil
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

// ---- structural equality (used by tests and the fuzz target) ----

// equalExpr reports whether two trees are the same query.
func equalExpr(a, b expr) bool {
	switch a := a.(type) {
	case allExpr:
		_, ok := b.(allExpr)
		return ok
	case notExpr:
		b, ok := b.(notExpr)
		return ok && equalExpr(a.x, b.x)
	case andExpr:
		b, ok := b.(andExpr)
		return ok && equalList(a.xs, b.xs)
	case orExpr:
		b, ok := b.(orExpr)
		return ok && equalList(a.xs, b.xs)
	case *cmpExpr:
		b, ok := b.(*cmpExpr)
		if !ok || a.field != b.field || a.op != b.op || len(a.vals) != len(b.vals) {
			return false
		}
		for i := range a.vals {
			x, y := a.vals[i], b.vals[i]
			if x.str != y.str || x.typ != y.typ || x.sev != y.sev || x.num != y.num || x.dur != y.dur ||
				x.rel != y.rel || !x.at.Equal(y.at) || (x.re == nil) != (y.re == nil) ||
				(x.re != nil && x.re.String() != y.re.String()) {
				return false
			}
		}
		return true
	}
	return false
}

func equalList(a, b []expr) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !equalExpr(a[i], b[i]) {
			return false
		}
	}
	return true
}
