package storetest

import (
	"strconv"
	"time"

	"github.com/ctexchange/cte/ioc"
)

// Page returns page p of n benchmark indicators: distinct sha256 values from
// one feed, with short comments, a tag and times, as a feed page looks.
func Page(p, n int) []ioc.Indicator {
	out := make([]ioc.Indicator, n)
	seen := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(p) * time.Minute)
	for i := range out {
		k := p*n + i
		out[i] = ioc.Indicator{
			Type:       ioc.TypeSHA256,
			Value:      Hash(k),
			Severity:   ioc.Severity(k % 5),
			Reputation: 1 + k%10,
			Comments:   "mal" + strconv.Itoa(k%100000) + ".exe",
			Tags:       benchTags[k%len(benchTags)],
			FirstSeen:  seen,
			LastSeen:   seen,
		}
	}
	return out
}

var benchTags = [][]string{nil, {"malware"}, {"malware", "emotet"}, {"phishing"}}
