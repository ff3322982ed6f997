package text

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
	assert.Equal(t, "", Prefix("abc", 0))
	assert.Equal(t, "ééééé", Runes("éééééé", 5))
	assert.Equal(t, "abc", Runes("abc", 20))
	assert.Equal(t, "", Runes("abc", 0))
}

func FuzzTruncate(f *testing.F) {
	f.Add("héllo wörld", 4)
	f.Add(strings.Repeat("日本", 50), 80)
	f.Fuzz(func(t *testing.T, s string, n int) {
		n = n % 200
		got := Truncate(s, n)
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("Truncate(%q, %d) = %q cuts a character", s, n, got)
		}
		if len(s) <= max(n, 0) && got != s {
			t.Fatalf("Truncate(%q, %d) = %q changed a short string", s, n, got)
		}
		if p := Prefix(s, n); !strings.HasPrefix(s, p) || len(p) > max(n, 0) {
			t.Fatalf("Prefix(%q, %d) = %q", s, n, p)
		}
	})
}
