package rule

import (
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/ctexchange/cte/ioc"
)

// FuzzParse checks that the parser never panics, that every error is a
// *Error pointing inside the query, and that any query that parses prints
// to a canonical form that parses back to the same AST and prints the same.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		"all",
		"*",
		"type in (sha256, md5) and severity >= medium and not (tags has benign)",
		`type IN ("md5","sha256") && sources.severity IN ("high","critical")`,
		"!(value contains evil || comments matches \"(?i)emotet\") and reputation > 3",
		`value == "a \"quoted\" \\ value" or tags not in (a, b, "c d")`,
		"lastSeen > 7d and firstSeen < 2024-05-01T12:00:00+02:00 and expiresAt < +36h and age <= 1w2d3h4m5s",
		"expiresAt > now or lastSeen == 2024-05-01",
		"((type == url)) or not not type = ipv4",
		"type in (md5", "value == \"abc", "severity > 5", "age > 99999999999d", "a & b",
		"tags matches \"a**\"", "value = 'x'", "firstSeen > 0000-01-01T00:00:00+01:00",
		"type == md5\nand\tseverity > 5", `value matches "\d+\.example\\"`,
	} {
		f.Add(s)
	}
	ind := fixture()
	f.Fuzz(func(t *testing.T, src string) {
		q, err := Parse(src)
		if err != nil {
			var qe *Error
			if !errors.As(err, &qe) {
				t.Fatalf("Parse(%q): error %T, want *Error", src, err)
			}
			if qe.Col < 1 || qe.Col > utf8.RuneCountInString(src)+1 {
				t.Fatalf("Parse(%q): column %d outside the query", src, qe.Col)
			}
			if qe.Msg == "" {
				t.Fatalf("Parse(%q): empty message", src)
			}
			_ = qe.Pointer()
			return
		}
		printed := q.String()
		again, err := Parse(printed)
		if err != nil {
			t.Fatalf("Parse(%q) printed %q, which does not parse: %v", src, printed, err)
		}
		if !equalExpr(q.root, again.root) {
			t.Fatalf("Parse(%q) printed %q, which parses to a different AST", src, printed)
		}
		if again.String() != printed {
			t.Fatalf("canonical form is not stable: %q then %q", printed, again.String())
		}
		// Evaluation never panics and Explain agrees with Match.
		for _, in := range []*ioc.Indicator{ind, {}} {
			if r, _ := q.Explain(in, testNow); r != q.Match(in, testNow) {
				t.Fatalf("%q: Explain and Match disagree", printed)
			}
		}
	})
}
