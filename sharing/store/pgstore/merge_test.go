package pgstore

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing/store/storetest"
)

// checkIndex checks that index gives the distinct values in byte order and
// the position of each indicator's value among them.
func checkIndex(t *testing.T, b *mergeBufs, values []string) {
	t.Helper()
	in := make([]ioc.Indicator, len(values))
	for i, v := range values {
		in[i].Value = v
	}
	b.index(in)
	want := slices.Clone(values)
	slices.Sort(want)
	want = slices.Compact(want)
	if len(want) == 0 {
		require.Empty(t, b.values)
	} else {
		require.Equal(t, want, b.values)
	}
	require.Len(t, b.pos, len(in))
	for i, v := range values {
		require.Equal(t, v, b.values[b.pos[i]], "position of %q", v)
	}
	require.Len(t, b.ws, len(want))
	require.Len(t, b.seen, len(want))
}

func TestIndex(t *testing.T) {
	t.Parallel()
	s := &Store{bufs: make(chan *mergeBufs, 1)}
	var hashes []string
	for _, x := range storetest.Page(3, 500) {
		hashes = append(hashes, x.Value, x.Value[:10]) // and values sharing a prefix
	}
	hashes = append(hashes, hashes[:100]...) // repeated values
	for name, values := range map[string][]string{
		"hashes": hashes,
		"one prefix": {"https://example.com/b", "https://example.com/a", "https://example.com/", "https://example.com/a",
			"https://example.co", "https://"},
		"short and zero bytes": {"a\x00", "a", "", "a\x00\x00", "\x00", "a\x00\x01", "b", "\xff", "\xff\xff\xff\xff\xff\xff\xff\xff\x00", "a"},
		"none":                 {},
	} {
		t.Run(name, func(t *testing.T) {
			b := s.mergeBufs()
			checkIndex(t, b, values)
			s.release(b)
		})
	}
	b := s.mergeBufs()
	assert.Empty(t, b.values, "a released buffer holds no values")
	assert.Empty(t, b.rows)
}

// FuzzIndex checks index on pages of values split from the input.
func FuzzIndex(f *testing.F) {
	f.Add("b\na\na\n\x00\na\x00\nabcdefghij\nabcdefgh\nabcdefghi")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		checkIndex(t, &mergeBufs{}, strings.Split(s, "\n"))
	})
}
