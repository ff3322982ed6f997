package rule

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// tokKind is the sort of a token.
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

// token is one lexical item of a query.
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

// column returns the 1-based column, in characters, of byte offset off.
func column(src string, off int) int { return utf8.RuneCountInString(src[:off]) + 1 }

// lex splits src into tokens, ending with one tEOF token.
func lex(src string) ([]token, error) {
	var toks []token
	for i := 0; i < len(src); {
		c := src[i]
		start := i
		var k tokKind
		switch {
		case isSpace(c):
			i++
			continue
		case c == '"':
			s, n, err := lexString(src, start)
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{kind: tString, text: s, off: start})
			i = n
			continue
		case isDelim(c):
			var err error
			if k, i, err = lexOperator(src, start); err != nil {
				return nil, err
			}
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

// lexOperator reads the punctuation or operator at src[i]: one of ( ) , = ==
// ! != < <= > >= && ||. It returns its kind and the offset after it.
func lexOperator(src string, i int) (tokKind, int, error) {
	next := byte(0)
	if i+1 < len(src) {
		next = src[i+1]
	}
	switch c := src[i]; c {
	case '(':
		return tLParen, i + 1, nil
	case ')':
		return tRParen, i + 1, nil
	case ',':
		return tComma, i + 1, nil
	case '&', '|':
		if next != c {
			word := "and"
			if c == '|' {
				word = "or"
			}
			return 0, 0, &Error{Src: src, Col: column(src, i), Msg: fmt.Sprintf(`a single "%c": write "%c%c" or %q`, c, c, c, word)}
		}
		if c == '&' {
			return tAnd, i + 2, nil
		}
		return tOr, i + 2, nil
	}
	// = == ! != < <= > >=: one kind alone, another with a following '='
	var alone, withEq tokKind
	switch src[i] {
	case '=':
		alone, withEq = tEq, tEq
	case '!':
		alone, withEq = tNot, tNe
	case '<':
		alone, withEq = tLt, tLe
	default: // '>'
		alone, withEq = tGt, tGe
	}
	if next == '=' {
		return withEq, i + 2, nil
	}
	return alone, i + 1, nil
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
	return "", 0, &Error{Src: src, Col: column(src, start), Msg: `unterminated string: missing closing "`}
}
