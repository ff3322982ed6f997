package storeutil

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/ctexchange/cte/ioc"
)

var orderValues = []string{"", "\x00", "\x00\x00", "a", "a\x00", "ab", "abcdefg", "abcdefgh", "abcdefgh\x00", "abcdefghz",
	"abcdefgi", "\xff\xff\xff\xff\xff\xff\xff\xff\x01", "ab", "a"}

// Prefix8 orders as the bytes do wherever it differs.
func TestPrefix8(t *testing.T) {
	t.Parallel()
	for _, a := range orderValues {
		for _, b := range orderValues {
			if pa, pb := Prefix8(a), Prefix8(b); pa != pb {
				assert.Equal(t, strings.Compare(a, b) < 0, pa < pb, "%q vs %q", a, b)
			}
			assert.Equal(t, Prefix8(a), Prefix8([]byte(a)), "string and bytes")
		}
	}
}

// PageOrder gives the stable sort of the page by value, and reuses its memory.
func TestPageOrder(t *testing.T) {
	t.Parallel()
	in := make([]ioc.Indicator, len(orderValues))
	for i, v := range orderValues {
		in[i].Value = v
	}
	var p PageOrder
	p.Sort(in[:3])
	got := p.Sort(in)
	want := make([]int32, len(in))
	for i := range want {
		want[i] = int32(i)
	}
	slices.SortStableFunc(want, func(a, b int32) int { return bytes.Compare([]byte(in[a].Value), []byte(in[b].Value)) })
	assert.Equal(t, want, got)
	assert.Empty(t, p.Sort(nil))
}

// FuzzPageOrder: the order is the stable sort by value, whatever the values.
func FuzzPageOrder(f *testing.F) {
	f.Add("b\na\na\n\x00\na\x00\nabcdefghij\nabcdefgh\nabcdefghi")
	f.Fuzz(func(t *testing.T, s string) {
		var in []ioc.Indicator
		for _, v := range strings.Split(s, "\n") {
			in = append(in, ioc.Indicator{Value: v})
		}
		var p PageOrder
		got := p.Sort(in)
		assert.Len(t, got, len(in))
		assert.True(t, slices.IsSortedFunc(got, func(a, b int32) int {
			if c := strings.Compare(in[a].Value, in[b].Value); c != 0 {
				return c
			}
			return int(a - b)
		}))
	})
}
