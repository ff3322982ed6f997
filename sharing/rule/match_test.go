package rule

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/ioc"
)

var testNow = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

// fixture is one source entry: a medium sha256 from "Mimecast Feed", first seen
// 10 days ago, last seen 2 days ago, expiring in 3 days.
func fixture() *ioc.Indicator {
	return &ioc.Indicator{
		Type:       ioc.TypeSHA256,
		Value:      "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		Severity:   ioc.SeverityMedium,
		Reputation: 7,
		Comments:   "Emotet dropper seen in Phishing",
		Tags:       []string{"Malware", "emotet"},
		FirstSeen:  testNow.Add(-10 * day),
		LastSeen:   testNow.Add(-2 * day),
		ExpiresAt:  testNow.Add(3 * day),
		Source:     "Mimecast Feed",
	}
}

func TestQueryMatchOperators(t *testing.T) {
	t.Parallel()
	tests := []struct {
		q    string
		want bool
	}{
		{"", true},
		{"all", true},
		{"*", true},
		// type: == != in, not in
		{"type == sha256", true},
		{"type == md5", false},
		{"type != md5", true},
		{"type != sha256", false},
		{"type in (md5, sha256)", true},
		{"type in (md5, url)", false},
		{"type not in (md5, url)", true},
		{"type not in (sha256)", false},
		// severity by order
		{"severity == medium", true},
		{"severity == high", false},
		{"severity != medium", false},
		{"severity != low", true},
		{"severity < high", true},
		{"severity < medium", false},
		{"severity <= medium", true},
		{"severity <= low", false},
		{"severity > low", true},
		{"severity > medium", false},
		{"severity >= medium", true},
		{"severity >= high", false},
		{"severity in (low, medium)", true},
		{"severity in (high, critical)", false},
		{"severity not in (high, critical)", true},
		{"severity not in (medium)", false},
		// reputation
		{"reputation == 7", true},
		{"reputation != 7", false},
		{"reputation < 8", true},
		{"reputation < 7", false},
		{"reputation <= 7", true},
		{"reputation > 6", true},
		{"reputation > 7", false},
		{"reputation >= 7", true},
		{"reputation >= 8", false},
		{"reputation in (1, 7)", true},
		{"reputation not in (1, 7)", false},
		// value: case-insensitive ==, !=, in, contains; regex as written
		{"value == 9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08", true},
		{"value == 9f86", false},
		{"value != 9f86", true},
		{"value in (abc, 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08)", true},
		{"value not in (abc, def)", true},
		{"value contains 2FEAA0", true},
		{"value contains zzz", false},
		{`value contains ""`, true},
		{`value matches "^9f86[0-9a-f]{60}$"`, true},
		{`value matches "^9F86"`, false},
		{`value matches "(?i)^9F86"`, true},
		// source and comments
		{`source == "mimecast feed"`, true},
		{`source != "Mimecast Feed"`, false},
		{`source in ("Netskope", "Mimecast Feed")`, true},
		{`source contains mimecast`, true},
		{`source matches "^Mime"`, true},
		{`comments contains PHISHING`, true},
		{`comments == "emotet dropper seen in phishing"`, true},
		{`comments matches "dropper\\s+seen"`, true},
		{`comments not in ("x")`, true},
		// tags: has, in (any), not in (none), contains (any), matches (any)
		{"tags has malware", true},
		{"tags has EMOTET", true},
		{"tags has benign", false},
		{"tags in (benign, emotet)", true},
		{"tags in (benign, phish)", false},
		{"tags not in (benign, phish)", true},
		{"tags not in (benign, malware)", false},
		{"tags contains MOT", true},
		{"tags contains xyz", false},
		{`tags matches "^mal"`, false},
		{`tags matches "^Mal"`, true},
		// times: absolute, now, ago (7d), ahead (+7d)
		{"firstSeen < 2026-11-21", true},
		{"firstSeen < 2026-11-20", false},
		{"firstSeen == 2026-11-20T12:00:00Z", true},
		{"firstSeen != 2026-11-20T12:00:00Z", false},
		{"firstSeen <= 2026-11-20T12:00:00Z", true},
		{"firstSeen >= 2026-11-20T12:00:00Z", true},
		{"firstSeen > 2026-11-20T12:00:00Z", false},
		{"firstSeen > 2026-11-20T13:00:00+02:00", true},
		{"lastSeen > 7d", true},
		{"lastSeen > 1d", false},
		{"lastSeen > 2d", false},
		{"lastSeen >= 2d", true},
		{"lastSeen == 2d", true},
		{"lastSeen < now", true},
		{"expiresAt > now", true},
		{"expiresAt < +2d", false},
		{"expiresAt < +4d", true},
		{"expiresAt <= +3d", true},
		{"expiresAt > 1w", true},
		// age = now - firstSeen (10 days)
		{"age == 10d", true},
		{"age == 240h", true},
		{"age != 10d", false},
		{"age < 30d", true},
		{"age < 10d", false},
		{"age <= 10d", true},
		{"age > 1w", true},
		{"age > 10d", false},
		{"age >= 10d", true},
		// logic and precedence: not > and > or
		{"type == md5 or type == sha256", true},
		{"type == md5 || severity > low", true},
		{"type == md5 and severity > low", false},
		{"type == sha256 && severity > low", true},
		{"not type == md5", true},
		{"!type == sha256", false},
		{"not not type == sha256", true},
		{"type == sha256 or type == md5 and severity == high", true},    // or(sha256, and(md5, high))
		{"(type == sha256 or type == md5) and severity == high", false}, // parentheses change it
		{"type == md5 and severity == high or type == sha256", true},
		{"not type == sha256 and severity == medium", false}, // (not sha256) and medium
		{"not (type == sha256 and severity == high)", true},
		{"type == md5 or type == url or severity >= medium", true},
		{"type == sha256 and severity >= medium and tags has emotet and age < 30d", true},
		{"type == sha256 and severity >= medium and tags has emotet and age < 1d", false},
		{"type == md5 or type == url or type == ipv4 or tags has benign", false},
		{"type == md5 or type == url or type == ipv4 or tags has emotet", true},
	}
	ind := fixture()
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			t.Parallel()
			q, err := Parse(tt.q)
			require.NoError(t, err)
			assert.Equal(t, tt.want, q.Match(ind, testNow))
			// The canonical form means the same thing.
			again, err := Parse(q.String())
			require.NoError(t, err)
			assert.Equal(t, tt.want, again.Match(ind, testNow), "canonical %q", q.String())
		})
	}
}

func TestQueryMatchUnsetFields(t *testing.T) {
	t.Parallel()
	blank := &ioc.Indicator{Type: ioc.TypeURL, Value: "http://x.example/"}
	tests := []struct {
		q    string
		want bool
	}{
		// An unset time satisfies no comparison but "!=".
		{"firstSeen < now", false},
		{"firstSeen > 2000-01-01", false},
		{"lastSeen > 7d", false},
		{"lastSeen < 7d", false},
		{"expiresAt < now", false},
		{"expiresAt > now", false},
		{"expiresAt == now", false},
		{"expiresAt != now", true},
		{"age > 0s", false},
		{"age < 100d", false},
		{"age != 1d", true},
		// No tags: has/in/contains/matches false, not in true.
		{"tags has a", false},
		{"tags in (a)", false},
		{"tags not in (a)", true},
		{"tags contains a", false},
		{`tags matches ""`, false},
		// Unset severity is unknown; unset reputation is the default, 5.
		{"severity == unknown", true},
		{"severity < low", true},
		{"reputation == 5", true},
		{`source == ""`, true},
		{`comments contains ""`, true},
	}
	for _, tt := range tests {
		q, err := Parse(tt.q)
		require.NoError(t, err, tt.q)
		assert.Equal(t, tt.want, q.Match(blank, testNow), tt.q)
	}
}

func TestQueryMatchOutOfRangeValues(t *testing.T) {
	t.Parallel()
	// Values outside the defined enums (corrupt data) never satisfy a clause,
	// even a negative one, and never panic.
	odd := &ioc.Indicator{Type: ioc.Type(200), Severity: ioc.Severity(77), Reputation: 99}
	for _, s := range []string{"type != md5", "type not in (md5)", "severity != low", "severity > critical"} {
		q, err := Parse(s)
		require.NoError(t, err)
		assert.False(t, q.Match(odd, testNow), s)
	}
	q, err := Parse("reputation == 10") // Rep() clamps to 1–10
	require.NoError(t, err)
	assert.True(t, q.Match(odd, testNow))
}

func TestQueryMatchNil(t *testing.T) {
	t.Parallel()
	q, err := Parse("")
	require.NoError(t, err)
	assert.False(t, q.Match(nil, testNow))
	matched, why := q.Explain(nil, testNow)
	assert.False(t, matched)
	assert.Equal(t, "no indicator", why)
}

func TestContainsNonASCII(t *testing.T) {
	t.Parallel()
	ind := &ioc.Indicator{Type: ioc.TypeDomain, Value: "xn--bcher-kva.example", Comments: "Büro ÜBERFALL", Tags: []string{"Ärger"}}
	tests := []struct {
		q    string
		want bool
	}{
		{"comments contains überfall", true},
		{"comments contains BÜRO", true},
		{"comments contains bureau", false},
		{"tags contains ärg", true},
		{"value contains ü", false}, // non-ASCII needle, ASCII value
		{"value contains BCHER", true},
		{`comments == "büro überfall"`, true},
		{"tags has ÄRGER", true},
	}
	for _, tt := range tests {
		q, err := Parse(tt.q)
		require.NoError(t, err, tt.q)
		assert.Equal(t, tt.want, q.Match(ind, testNow), tt.q)
	}
}

func TestInLongList(t *testing.T) {
	t.Parallel()
	// Past foldSetScan values the list is bisected; the answers must not change.
	var vals []string
	for i := range 40 {
		vals = append(vals, fmt.Sprintf("%064X", i*7919))
	}
	vals = append(vals, "Ärger", "\u212Aelvin", "x") // non-ASCII values, one folding to ASCII "kelvin"
	list := "(" + strings.Join(vals, ", ") + ")"
	in, err := Parse("value in " + list)
	require.NoError(t, err)
	notIn, err := Parse("value not in " + list)
	require.NoError(t, err)
	tags, err := Parse("tags in " + list)
	require.NoError(t, err)
	for _, tt := range []struct {
		value string
		want  bool
	}{
		{strings.ToLower(vals[0]), true},
		{strings.ToLower(vals[17]), true},
		{vals[39], true},
		{strings.ToLower(vals[39])[:63], false},
		{strings.ToLower(vals[39]) + "0", false},
		{"ärger", true},
		{"KELVIN", true},
		{"X", true},
		{"", false},
		{"zzz", false},
	} {
		ind := &ioc.Indicator{Value: tt.value, Tags: []string{"other", tt.value}}
		assert.Equal(t, tt.want, in.Match(ind, testNow), "in: %q", tt.value)
		assert.Equal(t, !tt.want, notIn.Match(ind, testNow), "not in: %q", tt.value)
		assert.Equal(t, tt.want, tags.Match(ind, testNow), "tags in: %q", tt.value)
		assert.Equal(t, inFold(tt.value, vals), in.Match(ind, testNow), "agrees with a scan: %q", tt.value)
	}
}
