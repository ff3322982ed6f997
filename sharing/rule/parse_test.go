package rule

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseCanonical(t *testing.T) {
	t.Parallel()
	tests := []struct{ src, want string }{
		// match-all spellings
		{"", "all"},
		{"  \t\n", "all"},
		{"all", "all"},
		{"ALL", "all"},
		{"*", "all"},
		{"(*)", "all"},
		// every field, canonical names, case-insensitive keywords
		{"TYPE == MD5", "type == md5"},
		{"type != url", "type != url"},
		{"Type In (Sha256, md5)", "type in (sha256, md5)"},
		{"type NOT IN (ipv4,ipv6)", "type not in (ipv4, ipv6)"},
		{`type in ("md5", "sha256")`, "type in (md5, sha256)"},
		{"severity >= High", "severity >= high"},
		{"severity = info", "severity == low"},
		{"severity < critical", "severity < critical"},
		{"severity <= medium", "severity <= medium"},
		{"severity > unknown", "severity > unknown"},
		{"reputation > 05", "reputation > 5"},
		{"reputation in (1, 10)", "reputation in (1, 10)"},
		{`value == "ABC"`, `value == "ABC"`},
		{"value == evil.example", `value == "evil.example"`},
		{"value contains 1.2.3", `value contains "1.2.3"`},
		{`value matches "^a.*\\.example$"`, `value matches "^a.*\.example$"`},
		{"source == mimecast", `source == "mimecast"`},
		{"comments contains phish", `comments contains "phish"`},
		{"tags has benign", `tags has "benign"`},
		{"tags in (a, b)", `tags in ("a", "b")`},
		{"tags not in (a)", `tags not in ("a")`},
		{"tags contains mal", `tags contains "mal"`},
		{"tags matches ^apt[0-9]+$", `tags matches "^apt[0-9]+$"`},
		{"firstSeen > 2024-05-01", "firstSeen > 2024-05-01T00:00:00Z"},
		{"firstSeen > 2024-05-01T12:00:00+02:00", "firstSeen > 2024-05-01T10:00:00Z"},
		{"lastSeen >= 2024-05-01T12:00:00.5Z", "lastSeen >= 2024-05-01T12:00:00.5Z"},
		{"lastSeen > 7d", "lastSeen > 7d"},
		{"lastSeen > -7d", "lastSeen > 7d"},
		{"lastSeen > 1w", "lastSeen > 7d"},
		{"expiresAt < +36h", "expiresAt < +1d12h"},
		{"expiresAt < NOW", "expiresAt < now"},
		{"expiresAt < 0d", "expiresAt < now"},
		{"age < 90m", "age < 1h30m"},
		{"age >= 0s", "age >= 0s"},
		{"age == 1d1h1m1s", "age == 1d1h1m1s"},
		{"age < 1.5d", "age < 1d12h"},
		{"age < 0.25h", "age < 15m"},
		{"age > 0", "age > 0s"},
		{"age > 1w1d", "age > 8d"},
		{"lastSeen > 1.5w", "lastSeen > 10d12h"},
		{"expiresAt < +0", "expiresAt < now"},
		{"sources.severity in (high, critical)", "severity in (high, critical)"},
		{"SOURCES.lastSeen > 1d", "lastSeen > 1d"},
		// quoting and escapes
		{`comments == "say \"hi\" \\ bye"`, `comments == "say \"hi\" \ bye"`},
		{`value matches "\d+\.example\(x\)"`, `value matches "\d+\.example\(x\)"`},
		{`comments == "back\\slash \\\" end\\"`, `comments == "back\slash \\\" end\\"`},
		{`comments == "a\b"`, `comments == "a\b"`},
		{`tags has "and"`, `tags has "and"`},
		{`value == ""`, `value == ""`},
		{`value == "http://x.example/?a=b&c=d"`, `value == "http://x.example/?a=b&c=d"`},
		// && || ! spellings
		{"type == md5 && severity > low", "type == md5 and severity > low"},
		{"type == md5 || type == sha256", "type == md5 or type == sha256"},
		{"!type == md5", "not (type == md5)"},
		{"not not type == md5", "not (not (type == md5))"},
		{"type==md5&&severity>low", "type == md5 and severity > low"},
		// precedence: not > and > or; same operators flatten
		{"type == md5 or type == url and severity > low", "type == md5 or type == url and severity > low"},
		{"(type == md5 or type == url) and severity > low", "(type == md5 or type == url) and severity > low"},
		{"not type == md5 and severity > low", "not (type == md5) and severity > low"},
		{"not (type == md5 and severity > low)", "not (type == md5 and severity > low)"},
		{"type == md5 and (severity > low and age < 1d)", "type == md5 and severity > low and age < 1d"},
		{"(type == md5 or type == url) or type == ipv4", "type == md5 or type == url or type == ipv4"},
		{"all and type == md5", "all and type == md5"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			t.Parallel()
			q, err := Parse(tt.src)
			require.NoError(t, err)
			assert.Equal(t, tt.want, q.String())
			again, err := Parse(q.String())
			require.NoError(t, err, "canonical form must re-parse")
			assert.True(t, equalExpr(q.root, again.root), "re-parsed AST differs")
			assert.Equal(t, q.String(), again.String())
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	const fields = "type, value, severity, reputation, source, tags, comments, firstSeen, lastSeen, age, expiresAt"
	const ops = "(==, !=, <, <=, >, >=, in, not in, contains, matches or has)"
	tests := []struct{ src, want string }{
		// syntax
		{`severity ==`, `column 12: expected a value after "=="`},
		{`severity == )`, `column 13: expected a value after "==", found ")"`},
		{`severity`, `column 9: expected an operator after "severity" ` + ops},
		{`type ~ md5`, `column 6: expected an operator after "type" ` + ops + `, found "~"`},
		{`type "==" md5`, `column 6: expected an operator after "type" ` + ops + `, found string "=="`},
		{`type not md5`, `column 10: expected "in" after "not", found "md5"`},
		{`type not`, `column 9: expected "in" after "not"`},
		{`type in md5`, `column 9: expected "(" after "in", found "md5"`},
		{`type in ()`, `column 10: expected a value after "(", found ")"`},
		{`type in (md5,)`, `column 14: expected a value in the list, found ")"`},
		{`type in (md5 sha256)`, `column 14: expected "," or ")" in the list, found "sha256"`},
		{`type in (md5`, `column 13: expected "," or ")" in the list`},
		{`(type == md5`, `column 13: expected ")" to close the "(" at column 1`},
		{`((type == md5) x`, `column 16: expected ")" to close the "(" at column 1, found "x"`},
		{`type == md5)`, `column 12: unexpected ")": no "(" to close`},
		{`type == md5 severity > low`, `column 13: expected "and", "or" or the end of the query, found "severity"`},
		{`and type == md5`, `column 1: expected a field name, "not", "all" or "(", found "and"`},
		{`type == md5 and`, `column 16: expected a field name, "not", "all" or "("`},
		{`type == md5 or or`, `column 16: expected a field name, "not", "all" or "(", found "or"`},
		{`()`, `column 2: expected a field name, "not", "all" or "(", found ")"`},
		{`not`, `column 4: expected a field name, "not", "all" or "(" after "not"`},
		{`"type" == md5`, `column 1: expected a field name, "not", "all" or "(", found string "type"`},
		{`== md5`, `column 1: expected a field name, "not", "all" or "(", found "=="`},
		{`type == md5 & severity > low`, `column 13: a single "&": write "&&" or "and"`},
		{`type == md5 | severity > low`, `column 13: a single "|": write "||" or "or"`},
		{`value == "abc`, `column 10: unterminated string: missing closing "`},
		{`value == "abc\`, `column 10: unterminated string: missing closing "`},
		{`value == "ab\"`, `column 10: unterminated string: missing closing "`},
		{`é == x`, `column 1: unknown field "é": want one of ` + fields},
		{`tags has "é" and é`, `column 18: unknown field "é": want one of ` + fields},
		{strings.Repeat("(", 101) + "all" + strings.Repeat(")", 101), `column 101: query nested deeper than 100 levels`},
		{strings.Repeat("not ", 101) + "all", `column 401: query nested deeper than 100 levels`},
		// unknown field
		{`foo == bar`, `column 1: unknown field "foo": want one of ` + fields},
		{`sources.type == md5`, `column 1: unknown field "sources.type": want one of ` + fields},
		{`sources.age > 1d`, `column 1: unknown field "sources.age": want one of ` + fields},
		// operator not valid for the field
		{`type < md5`, `column 6: operator "<" is not valid for type: want ==, !=, in or not in`},
		{`type contains md`, `column 6: operator "contains" is not valid for type: want ==, !=, in or not in`},
		{`severity has high`, `column 10: operator "has" is not valid for severity: want ==, !=, <, <=, >, >=, in or not in`},
		{`reputation matches 1`, `column 12: operator "matches" is not valid for reputation: want ==, !=, <, <=, >, >=, in or not in`},
		{`value > abc`, `column 7: operator ">" is not valid for value: want ==, !=, in, not in, contains or matches`},
		{`source has x`, `column 8: operator "has" is not valid for source: want ==, !=, in, not in, contains or matches`},
		{`tags == benign`, `column 6: operator "==" is not valid for tags: want has, in, not in, contains or matches`},
		{`age in (1d)`, `column 5: operator "in" is not valid for age: want ==, !=, <, <=, > or >=`},
		{`lastSeen contains 2024`, `column 10: operator "contains" is not valid for lastSeen: want ==, !=, <, <=, > or >=`},
		// value of the wrong kind
		{`severity > 5`, `column 12: "5" is not a severity: want unknown, low, medium, high or critical`},
		{`severity == ""`, `column 13: "" is not a severity: want unknown, low, medium, high or critical`},
		{`severity in (high, bad)`, `column 20: "bad" is not a severity: want unknown, low, medium, high or critical`},
		{`type == banana`, `column 9: "banana" is not an indicator type: want sha256, md5, url, domain, hostname, ipv4 or ipv6`},
		{`reputation > high`, `column 14: "high" is not a reputation: want a whole number from 1 to 10`},
		{`reputation > 0`, `column 14: "0" is not a reputation: want a whole number from 1 to 10`},
		{`reputation > 11`, `column 14: "11" is not a reputation: want a whole number from 1 to 10`},
		{`age > 5`, `column 7: "5" is not a duration: want a number and a unit (w, d, h, m or s), like 30d, 12h, 1d12h or 1.5d`},
		{`age > 5y`, `column 7: "5y" is not a duration: want a number and a unit (w, d, h, m or s), like 30d, 12h, 1d12h or 1.5d`},
		{`age > -5d`, `column 7: "-5d" is not a duration: want a number and a unit (w, d, h, m or s), like 30d, 12h, 1d12h or 1.5d`},
		{`age > 1d2`, `column 7: "1d2" is not a duration: want a number and a unit (w, d, h, m or s), like 30d, 12h, 1d12h or 1.5d`},
		{`age > 36501d`, `column 7: duration "36501d" is too long: at most 36500d`},
		{`age > 99999999999d`, `column 7: duration "99999999999d" is too long: at most 36500d`},
		{`age > 99999999999x`, `column 7: "99999999999x" is not a duration: want a number and a unit (w, d, h, m or s), like 30d, 12h, 1d12h or 1.5d`},
		{`age > 1.5s`, `column 7: duration "1.5s" has a fraction of a second: write whole seconds, e.g. 90s or 1.5m`},
		{`age > 1.d`, `column 7: "1.d" is not a duration: want a number and a unit (w, d, h, m or s), like 30d, 12h, 1d12h or 1.5d`},
		{`lastSeen > +0.0001h`, `column 12: duration "+0.0001h" has a fraction of a second: write whole seconds, e.g. 90s or 1.5m`},
		{`lastSeen > 9999999h`, `column 12: duration "9999999h" is too long: at most 36500d`},
		{`lastSeen > yesterday`, `column 12: "yesterday" is not a time: want an RFC 3339 time (2024-05-01T12:00:00Z), a date (2024-05-01), now, a duration ago (7d) or ahead (+7d)`},
		{`lastSeen > 2024-13-01`, `column 12: "2024-13-01" is not a time: want an RFC 3339 time (2024-05-01T12:00:00Z), a date (2024-05-01), now, a duration ago (7d) or ahead (+7d)`},
		{`lastSeen > 0000-01-01T00:00:00+01:00`, `column 12: time "0000-01-01T00:00:00+01:00" is out of range: want a year from 0001 to 9999`},
		{`value matches "("`, `column 15: invalid regular expression "(": missing closing ): "("`},
		{`tags matches "a**"`, `column 14: invalid regular expression "a**": invalid nested repetition operator: "**"`},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			t.Parallel()
			q, err := Parse(tt.src)
			require.Error(t, err)
			assert.Nil(t, q)
			var qe *Error
			require.True(t, errors.As(err, &qe), "error is %T, want *Error", err)
			assert.Equal(t, tt.src, qe.Src)
			assert.Equal(t, tt.want, err.Error())
		})
	}
}

func TestStringEscapes(t *testing.T) {
	t.Parallel()
	tests := []struct{ src, want string }{
		{`"plain"`, `plain`},
		{`"say \"hi\""`, `say "hi"`},
		{`"a\\b"`, `a\b`},
		{`"a\b"`, `a\b`}, // not an escape: kept
		{`"\d+\.example"`, `\d+\.example`},
		{`"end\\"`, `end\`},
		{`"\\\""`, `\"`},
		{`"é\é"`, `é\é`},
		{`""`, ``},
	}
	for _, tt := range tests {
		q, err := Parse("comments == " + tt.src)
		require.NoError(t, err, tt.src)
		c, ok := q.root.(*cmpExpr)
		require.True(t, ok)
		assert.Equal(t, tt.want, c.vals[0].str, tt.src)
	}
}

func TestErrorPointer(t *testing.T) {
	t.Parallel()
	_, err := Parse("type == md5 and severity > 5")
	var qe *Error
	require.ErrorAs(t, err, &qe)
	assert.Equal(t, 28, qe.Col)
	assert.Equal(t, "type == md5 and severity > 5\n                           ^", qe.Pointer())
}

func TestErrorPointerMultiLine(t *testing.T) {
	t.Parallel()
	_, err := Parse("type == md5\nand\tseverity > 5\nor tags has x")
	var qe *Error
	require.ErrorAs(t, err, &qe)
	assert.Equal(t, 28, qe.Col, "columns count from the start of the query")
	assert.Equal(t, "and\tseverity > 5\n   \t           ^", qe.Pointer())

	_, err = Parse("type ==")
	require.ErrorAs(t, err, &qe)
	assert.Equal(t, "type ==\n       ^", qe.Pointer(), "caret after the end")

	odd := &Error{Src: "abc", Col: 99}
	assert.Equal(t, "abc\n   ^", odd.Pointer(), "a column past the end does not panic")
}

func TestErrorColumnCountsCharacters(t *testing.T) {
	t.Parallel()
	_, err := Parse(`comments == "héllo" and bogus == 1`)
	var qe *Error
	require.ErrorAs(t, err, &qe)
	assert.Equal(t, 25, qe.Col, "é is one column, not two bytes")
}

func TestEqualExpr(t *testing.T) {
	t.Parallel()
	parse := func(s string) expr {
		q, err := Parse(s)
		require.NoError(t, err)
		return q.root
	}
	same := [][2]string{
		{"type == md5", "TYPE = \"md5\""},
		{"lastSeen > 7d", "lastSeen > -1w"},
		{"lastSeen > 2024-05-01", "lastSeen > 2024-05-01T02:00:00+02:00"},
		{"value == b or tags has d", "value == b || (tags has d)"},
	}
	for _, p := range same {
		assert.True(t, equalExpr(parse(p[0]), parse(p[1])), "%q vs %q", p[0], p[1])
	}
	differ := [][2]string{
		{"type == md5", "type == sha256"},
		{"type == md5", "type != md5"},
		{"type == md5", "severity == low"},
		{"type in (md5, sha256)", "type in (sha256, md5)"},
		{"type in (md5, sha256)", "type in (md5)"},
		{"value == a", "value == b"},
		{"value matches a", "value contains a"},
		{"lastSeen > 7d", "lastSeen > +7d"},
		{"lastSeen > 2024-01-01", "lastSeen > 2024-01-02"},
		{"lastSeen > now", "lastSeen > 2024-01-02"},
		{"age > 1d", "age > 2d"},
		{"reputation > 1", "reputation > 2"},
		{"all", "not all"},
		{"not all", "not not all"},
		{"all and all", "all or all"},
		{"all and all", "all and all and all"},
		{"all", "type == md5"},
	}
	for _, p := range differ {
		assert.False(t, equalExpr(parse(p[0]), parse(p[1])), "%q vs %q", p[0], p[1])
	}
}

// The queries shown in doc.go parse.
func TestDocExamplesParse(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		`type in (sha256, md5) and severity >= medium and not tags has benign`,
		`type == url and value matches "^https?://[^/]*\.example/"`,
		`source == "Mimecast Feed" and lastSeen > 7d`,
		`sources.severity in ("high", "critical") && !(tags in (test, allowlisted))`,
		`reputation >= 8 or (severity == critical and age < 30d)`,
		`comments contains emotet or tags matches "^apt[0-9]+$"`,
		`lastSeen > 7d`, `firstSeen < 90d`, `expiresAt < +2d`, `expiresAt < now`, `age < 30d`,
		`age < 30d`, `age < 12h`, `age < 1w`, `age < 1d12h`, `age < 1h30m`, `age < 90m`, `age < 1.5d`, `age < 0.5h`, `age > 0`,
	} {
		_, err := Parse(s)
		assert.NoError(t, err, s)
	}
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("type in (sha256, md5) and severity >= medium and not (tags has benign)"); err != nil {
			b.Fatal(err)
		}
	}
}
