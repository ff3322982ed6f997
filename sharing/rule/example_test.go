package rule_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing/rule"
)

var now = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func ExampleParse() {
	q, err := rule.Parse(`TYPE IN (sha256, "md5") && severity >= Medium && !(tags has benign)`)
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

func ExampleParse_error() {
	_, err := rule.Parse("type == md5 and severity > 5")
	fmt.Println(err)
	if qe := (*rule.Error)(nil); errors.As(err, &qe) {
		fmt.Println(qe.Pointer())
	}
	// Output:
	// column 28: "5" is not a severity: want unknown, low, medium, high or critical
	// type == md5 and severity > 5
	//                            ^
}

func ExampleParse_time() {
	q, err := rule.Parse("lastSeen > 7d and age < 30d")
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
	// false lastSeen > 7d: false (lastSeen is 2026-11-27T12:00:00Z, 7d ago is 2026-11-28T12:00:00Z)
}

func ExampleQuery_Explain() {
	q, err := rule.Parse("type in (sha256, md5) and severity >= high")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(q.Explain(&ioc.Indicator{Type: ioc.TypeMD5, Severity: ioc.SeverityLow}, now))
	// Output:
	// false severity >= high: false (severity is low)
}

func ExampleParseDuration() {
	for _, s := range []string{"30d", "1d12h", "1.5d", "1h30m", "1w", "1.5s"} {
		d, err := rule.ParseDuration(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(s, d)
	}
	// Output:
	// 30d 720h0m0s
	// 1d12h 36h0m0s
	// 1.5d 36h0m0s
	// 1h30m 1h30m0s
	// 1w 168h0m0s
	// duration "1.5s" has a fraction of a second: write whole seconds, e.g. 90s or 1.5m
}

func ExampleQuery_Types() {
	q, err := rule.Parse("type in (sha256, md5) and severity >= high")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(q.Types())
	fmt.Println(q.TypesUnmatched())
	// Output:
	// [sha256 md5]
	// [sha256 md5 url domain hostname ipv4 ipv6]
}
