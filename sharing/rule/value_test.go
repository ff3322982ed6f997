package rule

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/ioc"
)

// TestValueLiteralIsNormalised: a value compared whole (==, !=, in) is taken
// in the form cte stores it in, so a rule or an exception written as the
// analyst knows the indicator matches it. Written as is, each of these
// parsed and never matched: an exception meant to keep a site off a BLOCK
// list kept nothing.
func TestValueLiteralIsNormalised(t *testing.T) {
	t.Parallel()
	now := time.Now()
	for _, tc := range []struct {
		query string
		ind   ioc.Indicator
	}{
		{`value == "http://evil.example"`, ioc.Indicator{Type: ioc.TypeURL, Value: "http://evil.example/"}},
		{`value in ("https://good.example:443/x#top")`, ioc.Indicator{Type: ioc.TypeURL, Value: "https://good.example/x"}},
		{`value == bücher.example`, ioc.Indicator{Type: ioc.TypeDomain, Value: "xn--bcher-kva.example"}},
		{`value != "HTTP://EVIL.example"`, ioc.Indicator{Type: ioc.TypeURL, Value: "http://other.example/"}},
	} {
		q, err := Parse(tc.query)
		require.NoError(t, err, tc.query)
		assert.True(t, q.Match(&tc.ind, now), "%s against the stored %q", tc.query, tc.ind.Value)
		again, err := Parse(q.String())
		require.NoError(t, err, "its canonical form %s", q.String())
		assert.Equal(t, q.String(), again.String(), "canonical")
	}
	_, err := Parse(`value == 'evil.example'`)
	assert.ErrorContains(t, err, `double quotes ("evil.example")`, "single quotes would be part of the value")
	q, err := Parse(`value contains "Evil"`)
	require.NoError(t, err)
	assert.True(t, q.Match(&ioc.Indicator{Type: ioc.TypeDomain, Value: "evil.example"}, now), "a part is compared as written")
}

// TestCanonicalOfManyNotsParses: the printed form of a query of 51 nots,
// which writes each as "not (...)", parses back: a not and the parentheses
// it prints are one level (they counted two, and the printed form was
// refused as nested deeper than 100 levels; FuzzParse found it, its input
// is in testdata).
func TestCanonicalOfManyNotsParses(t *testing.T) {
	t.Parallel()
	q, err := Parse(strings.Repeat("not ", 51) + "type == md5")
	require.NoError(t, err)
	again, err := Parse(q.String())
	require.NoError(t, err)
	assert.Equal(t, q.String(), again.String())
	_, err = Parse(strings.Repeat("not ", 101) + "type == md5")
	assert.ErrorContains(t, err, "nested deeper than 100 levels", "still bounded")
}
