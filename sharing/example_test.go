package sharing_test

import (
	"fmt"
	"time"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
)

var now = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func ExampleCompileRule() {
	rule, err := sharing.CompileRule(sharing.Rule{
		Name:   "High hashes",
		Filter: "type in (sha256, md5) and severity >= high",
		Exceptions: []sharing.Exception{
			{Name: "benign", Tags: []string{"BENIGN"}},
			{Name: "lab", Query: `source == "Sandbox"`},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, ind := range []ioc.Indicator{
		{Type: ioc.TypeSHA256, Severity: ioc.SeverityCritical, Source: "Mimecast Feed"},
		{Type: ioc.TypeSHA256, Severity: ioc.SeverityCritical, Tags: []string{"benign"}},
		{Type: ioc.TypeMD5, Severity: ioc.SeverityHigh, Source: "sandbox"},
		{Type: ioc.TypeURL, Severity: ioc.SeverityHigh},
	} {
		fmt.Println(rule.Explain(&ind, now))
	}
	fmt.Println(rule.Types())
	// Output:
	// true matched: type in (sha256, md5): true (type is sha256); severity >= high: true (severity is critical); no exception matched
	// false excluded by exception "benign": tag "benign"
	// false excluded by exception "lab": source == "Sandbox": true (source is "sandbox")
	// false filter did not match: type in (sha256, md5): false (type is url)
	// [sha256 md5]
}

func ExampleCompileRule_error() {
	_, err := sharing.CompileRule(sharing.Rule{
		Name:       "High hashes",
		Filter:     "type in (sha256, md5)",
		Exceptions: []sharing.Exception{{Name: "benign", Query: "tag has benign"}},
	})
	fmt.Println(err)
	// Output:
	// rule "High hashes": exception "benign": column 1: unknown field "tag": want one of type, value, severity, reputation, source, tags, comments, firstSeen, lastSeen, age, expiresAt
}
