package sharing

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing/rule"
)

var testNow = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// fixture is one source entry: a medium sha256 from "Mimecast Feed", first seen
// 10 days ago, last seen 2 days ago, expiring in 3 days.
func fixture() *ioc.Indicator {
	const day = 24 * time.Hour
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

func TestCompileRuleErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		rule Rule
		want string
		col  int // of the wrapped *rule.Error; 0 when there is none
	}{
		{"bad filter", Rule{Name: "hashes", Filter: "severity > 5"},
			`rule "hashes": filter: column 12: "5" is not a severity: want unknown, low, medium, high or critical`, 12},
		{"unnamed rule", Rule{Filter: "foo == 1"},
			`unnamed rule: filter: column 1: unknown field "foo": want one of type, value, severity, reputation, source, tags, comments, firstSeen, lastSeen, age, expiresAt`, 1},
		{"bad exception query", Rule{Name: "hashes", Exceptions: []Exception{{Name: "ok", Tags: []string{"x"}}, {Name: "benign", Query: "tags == benign"}}},
			`rule "hashes": exception "benign": column 6: operator "==" is not valid for tags: want has, in, not in, contains or matches`, 6},
		{"unnamed exception", Rule{Name: "r", Exceptions: []Exception{{Tags: []string{"a"}}, {Query: "type =="}}},
			`rule "r": exception 2: column 8: expected a value after "=="`, 8},
		{"empty exception", Rule{Name: "r", Exceptions: []Exception{{Name: "nothing", Query: "  "}}},
			`rule "r": exception "nothing": needs a query or tags`, 0},
		{"blank tag", Rule{Name: "r", Exceptions: []Exception{{Name: "t", Tags: []string{"a", " "}}}},
			`rule "r": exception "t": tag 2 is empty`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := CompileRule(tt.rule)
			require.Error(t, err)
			assert.Nil(t, c)
			assert.Equal(t, tt.want, err.Error())
			var qe *rule.Error
			assert.Equal(t, tt.col != 0, errors.As(err, &qe), "wraps *rule.Error")
			if tt.col != 0 {
				assert.Equal(t, tt.col, qe.Col)
			}
		})
	}
}

func TestRuleMatchAndExplain(t *testing.T) {
	t.Parallel()
	rule := Rule{
		Name:   "hashes",
		Filter: "type in (sha256, md5) and severity >= medium",
		Exceptions: []Exception{
			{Name: "benign", Tags: []string{"BENIGN", "allowlisted"}},
			{Name: "lab", Query: `source == "Lab" or comments contains test`},
			{Name: "both", Query: "reputation == 1", Tags: []string{"fp"}},
		},
	}
	c, err := CompileRule(rule)
	require.NoError(t, err)
	base := func(mod func(*ioc.Indicator)) *ioc.Indicator {
		ind := fixture()
		mod(ind)
		return ind
	}
	tests := []struct {
		name    string
		ind     *ioc.Indicator
		matched bool
		why     string
	}{
		{"matches", fixture(), true,
			"matched: type in (sha256, md5): true (type is sha256); severity >= medium: true (severity is medium); no exception matched"},
		{"filter fails", base(func(i *ioc.Indicator) { i.Severity = ioc.SeverityLow }), false,
			"filter did not match: severity >= medium: false (severity is low)"},
		{"excluded by tag", base(func(i *ioc.Indicator) { i.Tags = []string{"x", "Benign"} }), false,
			`excluded by exception "benign": tag "Benign"`},
		{"excluded by second tag", base(func(i *ioc.Indicator) { i.Tags = []string{"ALLOWLISTED"} }), false,
			`excluded by exception "benign": tag "ALLOWLISTED"`},
		{"excluded by query", base(func(i *ioc.Indicator) { i.Source = "lab" }), false,
			`excluded by exception "lab": source == "Lab": true (source is "lab")`},
		{"excluded by query, second clause", base(func(i *ioc.Indicator) { i.Comments = "a TEST run" }), false,
			`excluded by exception "lab": comments contains "test": true (comments is "a TEST run")`},
		{"query-and-tag exception by tag", base(func(i *ioc.Indicator) { i.Tags = []string{"FP"} }), false,
			`excluded by exception "both": tag "FP"`},
		{"query-and-tag exception by query", base(func(i *ioc.Indicator) { i.Reputation = 1 }), false,
			`excluded by exception "both": reputation == 1: true (reputation is 1)`},
		{"nil", nil, false, "no indicator"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.matched, c.Match(tt.ind, testNow))
			matched, why := c.Explain(tt.ind, testNow)
			assert.Equal(t, tt.matched, matched)
			assert.Equal(t, tt.why, why)
		})
	}
}

func TestRuleEmptyFilterMatchesAll(t *testing.T) {
	t.Parallel()
	c, err := CompileRule(Rule{Name: "All"})
	require.NoError(t, err)
	assert.True(t, c.Match(&ioc.Indicator{}, testNow))
	matched, why := c.Explain(&ioc.Indicator{}, testNow)
	assert.True(t, matched)
	assert.Equal(t, "matched: all: true", why)
	assert.Equal(t, "all", c.Filter().String())
	assert.Equal(t, ioc.Types(), c.Types())
}

func TestRuleMutedIsTheEnginesBusiness(t *testing.T) {
	t.Parallel()
	c, err := CompileRule(Rule{Name: "m", Muted: true})
	require.NoError(t, err)
	assert.True(t, c.Match(fixture(), testNow), "Match ignores Muted")
	assert.True(t, c.Rule().Muted)
}

func TestRuleDoesNotAliasCallerSlices(t *testing.T) {
	t.Parallel()
	r := Rule{Name: "r", Exceptions: []Exception{{Name: "e", Tags: []string{"benign"}}}}
	c, err := CompileRule(r)
	require.NoError(t, err)
	r.Exceptions[0].Tags[0] = "changed"
	r.Exceptions[0].Name = "changed"
	ind := &ioc.Indicator{Tags: []string{"benign"}}
	assert.False(t, c.Match(ind, testNow), "exception still uses the tag it was compiled with")
	assert.Equal(t, "e", c.Rule().Exceptions[0].Name)
	assert.Equal(t, []string{"benign"}, c.Rule().Exceptions[0].Tags)
}

func TestRuleTypes(t *testing.T) {
	t.Parallel()
	all := ioc.Types()
	hashes := []ioc.Type{ioc.TypeSHA256, ioc.TypeMD5}
	tests := []struct {
		filter string
		excs   []Exception
		want   []ioc.Type
	}{
		{"", nil, all},
		{"severity >= high", nil, all},
		{"type == md5", nil, []ioc.Type{ioc.TypeMD5}},
		{"type in (md5, sha256)", nil, hashes},
		{"type != url", nil, []ioc.Type{ioc.TypeSHA256, ioc.TypeMD5, ioc.TypeDomain, ioc.TypeHostname, ioc.TypeIPv4, ioc.TypeIPv6}},
		{"type not in (url, domain, hostname, ipv4, ipv6)", nil, hashes},
		{"type == md5 and severity > low", nil, []ioc.Type{ioc.TypeMD5}},
		{"type == md5 or type == url", nil, []ioc.Type{ioc.TypeMD5, ioc.TypeURL}},
		{"type == md5 or severity > low", nil, all},
		{"type == md5 and type == url", nil, nil},
		{"not (type != md5)", nil, []ioc.Type{ioc.TypeMD5}},
		// not of a mixed clause: an md5 with high severity passes, so every type can.
		{"not (type == md5 and severity > low)", nil, all},
		{"not (type == md5 or severity > low)", nil, []ioc.Type{ioc.TypeSHA256, ioc.TypeURL, ioc.TypeDomain, ioc.TypeHostname, ioc.TypeIPv4, ioc.TypeIPv6}},
		{"(type == md5 or type == url) and type != url", nil, []ioc.Type{ioc.TypeMD5}},
		{"not all", nil, nil},
		// exceptions: a query on type removes those types; tags or mixed queries remove none
		{"type in (md5, sha256)", []Exception{{Query: "type == md5"}}, []ioc.Type{ioc.TypeSHA256}},
		{"type in (md5, sha256)", []Exception{{Query: "type == md5", Tags: []string{"x"}}}, []ioc.Type{ioc.TypeSHA256}},
		{"type in (md5, sha256)", []Exception{{Query: "type == md5 and severity < high"}}, hashes},
		{"type in (md5, sha256)", []Exception{{Tags: []string{"benign"}}}, hashes},
		{"", []Exception{{Query: "type not in (md5, sha256)"}}, hashes},
	}
	for _, tt := range tests {
		c, err := CompileRule(Rule{Name: "r", Filter: tt.filter, Exceptions: tt.excs})
		require.NoError(t, err, tt.filter)
		assert.Equal(t, tt.want, c.Types(), "%q %v", tt.filter, tt.excs)
		if tt.excs == nil {
			assert.Equal(t, tt.want, c.Filter().Types(), "Query.Types of %q", tt.filter)
		}
	}
}

func TestRuleTypesIsSound(t *testing.T) {
	t.Parallel()
	// Whatever an indicator of a type not in Types() looks like, the rule never
	// matches it.
	filters := []string{
		"type == md5 or not (type == url and severity > low)",
		"not (type in (md5, url) or tags has x) and type != sha256",
		"(type == md5 and age < 1d) or (type == ipv4 and not severity == low)",
	}
	variants := []ioc.Indicator{
		{}, {Severity: ioc.SeverityHigh}, {Tags: []string{"x"}}, {Severity: ioc.SeverityLow, FirstSeen: testNow},
	}
	for _, f := range filters {
		c, err := CompileRule(Rule{Name: "r", Filter: f})
		require.NoError(t, err)
		types := c.Types()
		for _, typ := range ioc.Types() {
			possible := false
			for _, v := range variants {
				v.Type = typ
				if c.Match(&v, testNow) {
					possible = true
				}
			}
			if possible {
				assert.Contains(t, types, typ, "%q matched a %s", f, typ)
			}
		}
	}
}

func TestRuleJSON(t *testing.T) {
	t.Parallel()
	in := `{"name":"High hashes","filter":"type in (md5, sha256) and severity >= high",
		"exceptions":[{"name":"benign","query":"source == lab","tags":["BENIGN"]}],"muted":true}`
	var r Rule
	require.NoError(t, json.Unmarshal([]byte(in), &r))
	assert.Equal(t, Rule{Name: "High hashes", Filter: "type in (md5, sha256) and severity >= high",
		Exceptions: []Exception{{Name: "benign", Query: "source == lab", Tags: []string{"BENIGN"}}}, Muted: true}, r)
	out, err := json.Marshal(Rule{Name: "All"})
	require.NoError(t, err)
	assert.JSONEq(t, `{"name":"All"}`, string(out))
}
