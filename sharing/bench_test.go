package sharing

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ctexchange/cte/ioc"
)

var benchNow = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// benchIndicators is a mix that exercises every branch of the three-clause rule.
func benchIndicators() []ioc.Indicator {
	return []ioc.Indicator{
		{Type: ioc.TypeSHA256, Value: ioc.EmptySHA256, Severity: ioc.SeverityHigh, Tags: []string{"malware", "emotet"}},
		{Type: ioc.TypeMD5, Value: ioc.EmptyMD5, Severity: ioc.SeverityMedium, Tags: []string{"Benign"}},
		{Type: ioc.TypeURL, Value: "http://evil.example/x", Severity: ioc.SeverityCritical},
		{Type: ioc.TypeSHA256, Value: ioc.Placeholder, Severity: ioc.SeverityLow, Tags: []string{"a", "b", "c"}},
	}
}

func benchRule(b *testing.B, r Rule) {
	b.Helper()
	c, err := CompileRule(r)
	if err != nil {
		b.Fatal(err)
	}
	inds := benchIndicators()
	b.ReportAllocs()
	n := 0
	for i := 0; b.Loop(); i++ {
		if c.Match(&inds[i&3], benchNow) {
			n++
		}
	}
	if n == 0 {
		b.Fatal("nothing matched")
	}
}

// BenchmarkRuleThreeClauses is the target: under 100 ns and 0 allocations
// per indicator.
func BenchmarkRuleThreeClauses(b *testing.B) {
	benchRule(b, Rule{Name: "hashes", Filter: "type in (sha256, md5) and severity >= medium and not (tags has benign)"})
}

func BenchmarkRuleWithExceptions(b *testing.B) {
	benchRule(b, Rule{Name: "hashes", Filter: "type in (sha256, md5) and severity >= medium",
		Exceptions: []Exception{{Name: "benign", Tags: []string{"BENIGN", "allowlisted"}}, {Name: "test", Query: `source == "lab"`}}})
}

func BenchmarkRuleStringsAndTime(b *testing.B) {
	benchRule(b, Rule{Name: "recent", Filter: `value contains "EXAMPLE" or (lastSeen > 7d and age < 30d) or tags in (malware, c2)`})
}

func BenchmarkRuleRegex(b *testing.B) {
	benchRule(b, Rule{Name: "re", Filter: `value matches "^http://[a-z]+\\.example/"`})
}

// BenchmarkRuleAllowlist is an exception listing 1,000 hashes: bisected, not scanned.
func BenchmarkRuleAllowlist(b *testing.B) {
	var q strings.Builder
	q.WriteString("value in (")
	for i := range 1000 {
		if i > 0 {
			q.WriteString(", ")
		}
		fmt.Fprintf(&q, "%064x", i*104729)
	}
	q.WriteString(")")
	benchRule(b, Rule{Name: "allow", Filter: "severity >= medium", Exceptions: []Exception{{Name: "allowlist", Query: q.String()}}})
}
