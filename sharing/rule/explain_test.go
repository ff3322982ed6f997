package rule

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/ioc"
)

// why returns Explain's reason for ind, checking that its verdict is Match's.
func why(t *testing.T, q *Query, ind *ioc.Indicator) string {
	t.Helper()
	matched, why := q.Explain(ind, testNow)
	assert.Equal(t, q.Match(ind, testNow), matched, "Explain and Match agree on %q", q)
	return why
}

func TestQueryExplain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		q, want string
	}{
		{"", "all: true"},
		{"severity >= high", "severity >= high: false (severity is medium)"},
		{"type in (sha256, md5)", "type in (sha256, md5): true (type is sha256)"},
		{"reputation > 8", "reputation > 8: false (reputation is 7)"},
		{"value == abc", `value == "abc": false (value is "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")`},
		{"source == x", `source == "x": false (source is "Mimecast Feed")`},
		{"comments contains Emotet", `comments contains "Emotet": true (comments is "Emotet dropper seen in Phishing")`},
		{"tags has benign", `tags has "benign": false (tags are "Malware", "emotet")`},
		{"age < 7d", "age < 7d: false (age is 10d)"},
		{"lastSeen > 1d", "lastSeen > 1d: false (lastSeen is 2026-11-28T12:00:00Z, 1d ago is 2026-11-29T12:00:00Z)"},
		{"expiresAt < +1d", "expiresAt < +1d: false (expiresAt is 2026-12-03T12:00:00Z, +1d is 2026-12-01T12:00:00Z)"},
		{"expiresAt > now", "expiresAt > now: true (expiresAt is 2026-12-03T12:00:00Z, now is 2026-11-30T12:00:00Z)"},
		{"firstSeen < 2026-01-01", "firstSeen < 2026-01-01T00:00:00Z: false (firstSeen is 2026-11-20T12:00:00Z)"},
		// and: the first false clause decides; when all hold, all are listed
		{"type == sha256 and severity >= high and tags has malware",
			"severity >= high: false (severity is medium)"},
		{"type == sha256 and tags has malware",
			`type == sha256: true (type is sha256); tags has "malware": true (tags are "Malware", "emotet")`},
		// or: the first true clause decides; when none holds, all are listed
		{"type == md5 or severity == medium or tags has x", "severity == medium: true (severity is medium)"},
		{"type == md5 or severity == high",
			"type == md5: false (type is sha256); severity == high: false (severity is medium)"},
		// not wraps the explanation of its operand
		{"type in (sha256, md5) and severity >= medium and not (tags has emotet)",
			`not (tags has "emotet": true (tags are "Malware", "emotet"))`},
		{"not (type == md5 or severity == high)",
			"not (type == md5: false (type is sha256); severity == high: false (severity is medium))"},
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			t.Parallel()
			q, err := Parse(tt.q)
			require.NoError(t, err)
			assert.Equal(t, tt.want, why(t, q, fixture()))
		})
	}
}

func TestQueryExplainClipsLongStrings(t *testing.T) {
	t.Parallel()
	long := fixture()
	long.Comments = strings.Repeat("é", 80) // 160 bytes, shown clipped to 100
	q, err := Parse("comments == x")
	require.NoError(t, err)
	assert.Equal(t, `comments == "x": false (comments is "`+strings.Repeat("é", 50)+`…")`, why(t, q, long))
}

func TestQueryExplainUnset(t *testing.T) {
	t.Parallel()
	blank := &ioc.Indicator{Type: ioc.TypeMD5}
	tests := []struct{ q, want string }{
		{"age > 1d", "age > 1d: false (age is unknown: firstSeen is unset)"},
		{"firstSeen > 2026-01-01", "firstSeen > 2026-01-01T00:00:00Z: false (firstSeen is unset)"},
		{"tags has x", `tags has "x": false (no tags)`},
		{"reputation == 5", "reputation == 5: true (reputation is 5, the default)"},
	}
	for _, tt := range tests {
		q, err := Parse(tt.q)
		require.NoError(t, err)
		assert.Equal(t, tt.want, why(t, q, blank), tt.q)
	}
	// A first-seen time in the future gives a negative age.
	q, err := Parse("age > 0s")
	require.NoError(t, err)
	future := &ioc.Indicator{FirstSeen: testNow.Add(90 * time.Minute)}
	assert.Equal(t, "age > 0s: false (age is -1h30m)", why(t, q, future))
}

// Explain and Match must agree: Explain's decision is recomputed from the AST.
func TestExplainAgreesWithMatch(t *testing.T) {
	t.Parallel()
	queries := []string{
		"type == md5 or not (severity >= high and tags has x) and age < 3d",
		"not not (lastSeen > 1d or expiresAt < now) and reputation in (1, 7)",
		"(value contains 9f or comments matches \"^E\") and not source == y",
	}
	inds := []*ioc.Indicator{fixture(), {Type: ioc.TypeMD5}, {Type: ioc.TypeURL, Severity: ioc.SeverityHigh, Tags: []string{"x"}, FirstSeen: testNow}}
	for _, s := range queries {
		q, err := Parse(s)
		require.NoError(t, err)
		for _, ind := range inds {
			r, _ := q.Explain(ind, testNow)
			assert.Equal(t, q.Match(ind, testNow), r, "%s on %+v", s, ind)
		}
	}
}
