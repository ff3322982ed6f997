package console

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
)

// TestReasonLabel: the label is the text before the first colon, at most 60
// bytes, cut between characters, and valid UTF-8 whatever the product sent.
func TestReasonLabel(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"policy: value x":                     "policy",
		strings.Repeat("x", 59) + "é refusée": strings.Repeat("x", 59),
		strings.Repeat("x", 58) + "é refusée": strings.Repeat("x", 58) + "é",
		"bad \xff byte":                       "bad \uFFFD byte",
		strings.Repeat("é", 40):               strings.Repeat("é", 30),
		":leading colon":                      ":leading colon",
	} {
		assert.Equal(t, want, reasonLabel(in), "%q", in)
	}
}

// FuzzReasonLabel: whatever the reason, its label is one prometheus takes
// (a label that is not valid UTF-8 panics) and at most 60 bytes.
func FuzzReasonLabel(f *testing.F) {
	for _, s := range []string{"policy: x", strings.Repeat("x", 59) + "é", "\xff\xfe", strings.Repeat("日本", 40)} {
		f.Add(s)
	}
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fuzz_reasons_total", Help: "fuzz"}, []string{"reason"})
	f.Fuzz(func(t *testing.T, in string) {
		l := reasonLabel(in)
		if !utf8.ValidString(l) || len(l) > 60 {
			t.Fatalf("reasonLabel(%q) = %q", in, l)
		}
		vec.WithLabelValues(l).Inc() // panics on a label prometheus refuses
	})
}
