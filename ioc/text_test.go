package ioc

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

func TestTruncate(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "abc", Truncate("abc", 3))
	assert.Equal(t, "ab…", Truncate("abc", 2))
	assert.Equal(t, "é…", Truncate("éé", 3), "never half a character")
	assert.Equal(t, "…", Truncate("é", 1))
	assert.Equal(t, "…", Truncate("abc", -1))
	assert.Equal(t, "ééééé", TruncateRunes("éééééé", 5))
	assert.Equal(t, "abc", TruncateRunes("abc", 20))
	assert.Equal(t, "", TruncateRunes("abc", 0))
}

func FuzzTruncate(f *testing.F) {
	f.Add("héllo wörld", 4)
	f.Add(strings.Repeat("日本", 50), 80)
	f.Fuzz(func(t *testing.T, s string, n int) {
		n %= 200
		got := Truncate(s, n)
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("Truncate(%q, %d) = %q cuts a character", s, n, got)
		}
		if len(s) <= max(n, 0) && got != s {
			t.Fatalf("Truncate(%q, %d) = %q changed a short string", s, n, got)
		}
		if p := strings.TrimSuffix(got, Ellipsis); !strings.HasPrefix(s, p) || len(p) > max(n, 0) {
			t.Fatalf("Truncate(%q, %d) = %q", s, n, got)
		}
		if r := TruncateRunes(s, n); utf8.ValidString(s) && utf8.RuneCountInString(r) > max(n, 0) {
			t.Fatalf("TruncateRunes(%q, %d) = %q", s, n, r)
		}
	})
}
