package rule

import (
	"fmt"
	"github.com/ctexchange/cte/ioc"
	"strings"
	"unicode/utf8"
)

// Error is a query that does not parse: the column (1-based, in characters)
// where the problem is and what was expected there.
type Error struct {
	Src string // the whole query
	Col int    // 1-based column of the offending token; len+1 at the end of the query
	Msg string // what is wrong and what was expected
}

// Error returns "column N: message".
func (e *Error) Error() string { return fmt.Sprintf("column %d: %s", e.Col, e.Msg) }

// Pointer returns the line of the query holding the error and, below it, a caret
// under the column, for showing the error to a person in a terminal.
func (e *Error) Pointer() string {
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

// clip shortens a value quoted in an error message.
func clip(s string) string { return ioc.Truncate(s, 40) }
