package sharing_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
)

var now = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func ExampleParseQuery() {
	q, err := sharing.ParseQuery(`TYPE IN (sha256, "md5") && severity >= Medium && !(tags has benign)`)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(q)

	ind := &ioc.Indicator{Type: ioc.TypeMD5, Value: ioc.EmptyMD5, Severity: ioc.SeverityHigh, Tags: []string{"emotet"}}
	fmt.Println(q.Match(ind, now))
	ind.Tags = append(ind.Tags, "BENIGN")
	fmt.Println(q.Match(ind, now))
	// Output:
	// type in (sha256, md5) and severity >= medium and not (tags has "benign")
	// true
	// false
}

func ExampleParseQuery_error() {
	_, err := sharing.ParseQuery("type == md5 and severity > 5")
	fmt.Println(err)
	if qe := (*sharing.QueryError)(nil); errors.As(err, &qe) {
		fmt.Println(qe.Pointer())
	}
	// Output:
	// column 28: "5" is not a severity: want unknown, low, medium, high or critical
	// type == md5 and severity > 5
	//                            ^
}

func ExampleParseQuery_time() {
	q, err := sharing.ParseQuery("lastSeen > 7d and age < 30d")
	if err != nil {
		fmt.Println(err)
		return
	}
	ind := &ioc.Indicator{FirstSeen: now.Add(-20 * 24 * time.Hour), LastSeen: now.Add(-3 * 24 * time.Hour)}
	fmt.Println(q.Match(ind, now))
	fmt.Println(q.Match(ind, now.Add(5*24*time.Hour)))
	fmt.Println(q.Explain(ind, now.Add(5*24*time.Hour)))
	// Output:
	// true
	// false
	// lastSeen > 7d: false (lastSeen is 2026-11-27T12:00:00Z, 7d ago is 2026-11-28T12:00:00Z)
}

func ExampleQuery_Explain() {
	q, err := sharing.ParseQuery("type in (sha256, md5) and severity >= high")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(q.Explain(&ioc.Indicator{Type: ioc.TypeMD5, Severity: ioc.SeverityLow}, now))
	// Output:
	// severity >= high: false (severity is low)
}

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
