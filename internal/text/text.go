package text

import "unicode/utf8"

// Ellipsis marks text that was cut.
const Ellipsis = "…"

// Truncate returns s when it is at most n bytes long, and otherwise its longest
// prefix of at most n bytes that ends on a character boundary, followed by
// Ellipsis. n below 0 counts as 0.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return Prefix(s, n) + Ellipsis
}

// Prefix returns the longest prefix of s of at most n bytes that ends on a
// character boundary, without a mark. n below 0 counts as 0.
func Prefix(s string, n int) string {
	if len(s) <= n {
		return s
	}
	n = max(n, 0)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Runes returns s cut to at most n characters (not bytes), without a mark, for
// products that count a field's length in characters.
func Runes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}
