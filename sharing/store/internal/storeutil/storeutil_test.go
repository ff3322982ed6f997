package storeutil

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
)

func TestPackUnpack(t *testing.T) {
	t.Parallel()
	zone := time.FixedZone("X", -7*3600)
	for _, in := range []time.Time{
		{},
		time.Unix(0, 0),
		time.Unix(-1, 999999999),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, zone),
		time.Now(),
	} {
		got := Unpack(Pack(in))
		assert.True(t, got == Time(in), "%v: got %v, want %v", in, got, Time(in))
		assert.True(t, got.Equal(in), "%v", in)
	}
	assert.True(t, Unpack(ZeroSec, 0) == time.Time{})
}

func TestCheckIndicator(t *testing.T) {
	t.Parallel()
	ok := ioc.Indicator{Type: ioc.TypeDomain, Value: "evil.example"}
	assert.NoError(t, CheckIndicator(&ok))
	for name, in := range map[string]ioc.Indicator{
		"type":     {Value: "evil.example"},
		"normal":   {Type: ioc.TypeDomain, Value: "EVIL.example"},
		"invalid":  {Type: ioc.TypeIPv4, Value: "1.2.3"},
		"too long": {Type: ioc.TypeURL, Value: "http://x.example/" + strings.Repeat("a", MaxValueLen)},
		"hash":     {Type: ioc.TypeMD5, Value: "44D88612FEA8A8F36DE82E1278ABB02F"},
		"spaces":   {Type: ioc.TypeMD5, Value: " 44d88612fea8a8f36de82e1278abb02f"},
	} {
		assert.Error(t, CheckIndicator(&in), name)
	}
	assert.Error(t, CheckSource("source", ""))
	assert.NoError(t, CheckSource("source", "a"))
	assert.Equal(t, 80+len("…"), len(Trunc(strings.Repeat("x", 100))))
}

func TestCheckIndicatorDoesNotAllocate(t *testing.T) {
	sha := ioc.Indicator{Type: ioc.TypeSHA256, Value: "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"}
	assert.Zero(t, testing.AllocsPerRun(10, func() {
		if err := CheckIndicator(&sha); err != nil {
			t.Fatal(err)
		}
	}), "a normal hash is checked without allocating")
}

func TestCheckLedger(t *testing.T) {
	t.Parallel()
	assert.NoError(t, CheckLedger("cfg", []sharing.LedgerEntry{{Value: "v"}}))
	assert.EqualError(t, CheckLedger("", nil), "empty sharing configuration name: every sharing configuration must be named")
	assert.EqualError(t, CheckLedger("cfg", []sharing.LedgerEntry{{Value: "v"}, {}}), `ledger of "cfg": entry 1 has an empty value`)
}

func TestCheckMerge(t *testing.T) {
	t.Parallel()
	ok := ioc.Indicator{Type: ioc.TypeDomain, Value: "evil.example", Reputation: 7}
	assert.NoError(t, CheckMerge("src", []ioc.Indicator{ok}))
	assert.NoError(t, CheckMerge("src", nil))
	assert.EqualError(t, CheckMerge("", []ioc.Indicator{ok}), "merge: empty source name: every source must be named")
	bad := ok
	bad.Value = "EVIL.example"
	assert.ErrorContains(t, CheckMerge("src", []ioc.Indicator{ok, bad}), `merge from "src": domain indicator "EVIL.example" is not in normal form`)
	for _, r := range []int{math.MaxInt32 + 1, math.MinInt32 - 1} {
		big := ok
		big.Reputation = r
		assert.EqualError(t, CheckMerge("src", []ioc.Indicator{ok, big}),
			fmt.Sprintf(`merge from "src": indicator "evil.example" has reputation %d, want 1 to 10`, r))
	}
	edge := ok
	edge.Reputation = math.MaxInt32
	assert.NoError(t, CheckMerge("src", []ioc.Indicator{edge}), "the largest 32-bit reputation is stored")
}

// BenchmarkCheckIndicator checks normal hashes as a store's Merge does.
func BenchmarkCheckIndicator(b *testing.B) {
	in := []ioc.Indicator{
		{Type: ioc.TypeSHA256, Value: "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"},
		{Type: ioc.TypeMD5, Value: "44d88612fea8a8f36de82e1278abb02f"},
	}
	b.ReportAllocs()
	for b.Loop() {
		for i := range in {
			if err := CheckIndicator(&in[i]); err != nil {
				b.Fatal(err)
			}
		}
	}
}
