package ioc

import "unicode/utf8"

// Ellipsis marks text Truncate cut.
const Ellipsis = "…"

// Truncate returns s when it is at most n bytes long, and otherwise its longest
// prefix of at most n bytes that ends on a character boundary, followed by
// Ellipsis; n below 0 counts as 0. It is the one helper cte uses to quote values in
// errors, logs and reports, so they are cut the same way everywhere and never in
// the middle of a UTF-8 character.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	n = max(n, 0)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + Ellipsis
}

// TruncateRunes returns s cut to at most n characters (not bytes), without a
// mark, for products that count a field's length in characters.
func TruncateRunes(s string, n int) string {
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
