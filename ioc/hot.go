package ioc

// This file holds the checks of the pull path, which must cost next to
// nothing for the values that are already right.

// IsNormal reports whether v is a valid indicator of type t in its normal form:
// whether Parse(t, v) returns v itself without error. For a hash it is one pass
// over the bytes; for a domain, host name or IP address it is Parse without
// allocating; it never allocates for a value that is normal. A consumer of
// values a plugin says it normalised (the engine, a store) checks them with it
// and calls Parse only for the few it refuses, to learn why.
func IsNormal(t Type, v string) bool {
	switch t {
	case TypeSHA256:
		return len(v) == 64 && isLowerHex(v)
	case TypeMD5:
		return len(v) == 32 && isLowerHex(v)
	}
	out, err := Parse(t, v)
	return err == nil && out == v
}

// isLowerHex reports whether s is only lower-case hex digits.
func isLowerHex(s string) bool {
	var acc uint8
	for i := 0; i < len(s); i++ {
		acc |= hexClass[s[i]]
	}
	return acc == 0
}

// AppendHash appends to dst the normal form of raw as a hash of type t
// (TypeSHA256 or TypeMD5): what Parse(t, string(raw)) returns, without making
// a string of raw. It is for parsers that scan bytes, such as a CSV feed: it
// does not allocate unless dst must grow. On error it returns dst unchanged and
// the *ParseError Parse gives; for another type, a *ParseError whose rule says
// to use Parse.
func AppendHash(dst []byte, t Type, raw []byte) ([]byte, error) {
	n := 0
	switch t {
	case TypeSHA256:
		n = 64
	case TypeMD5:
		n = 32
	}
	if n == 0 {
		return dst, perr(t, string(raw), "not a hash type: use Parse")
	}
	s := trimBytes(raw)
	if len(s) != n {
		return dst, appendHashErr(t, raw)
	}
	var acc uint8
	for _, c := range s {
		acc |= hexClass[c]
	}
	if acc&2 != 0 {
		return dst, appendHashErr(t, raw)
	}
	at := len(dst)
	dst = append(dst, s...)
	if acc != 0 {
		for i, c := range dst[at:] {
			if hexClass[c] == 1 {
				dst[at+i] = c + 'a' - 'A'
			}
		}
	}
	return dst, nil
}

// appendHashErr is Parse's error for raw, so that AppendHash and Parse refuse
// alike and say the same.
func appendHashErr(t Type, raw []byte) error {
	if _, err := Parse(t, string(raw)); err != nil {
		return err
	}
	// Unreachable: AppendHash refuses only what Parse refuses.
	return perr(t, string(raw), "not a hash")
}

// trimBytes trims ASCII white space, as trim does.
func trimBytes(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}
