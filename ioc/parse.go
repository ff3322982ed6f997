package ioc

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// ErrInvalid is wrapped by every *ParseError.
var ErrInvalid = errors.New("invalid indicator")

// ParseError says which value failed which rule. Value is truncated to 80 bytes.
type ParseError struct {
	Type  Type
	Value string
	Rule  string
}

// Error implements error.
func (e *ParseError) Error() string {
	return fmt.Sprintf("ioc: %s %q: %s", e.Type, e.Value, e.Rule)
}

// Unwrap returns ErrInvalid.
func (e *ParseError) Unwrap() error { return ErrInvalid }

// Reason says why the value is invalid without repeating it: the type and the
// rule broken, e.g. "sha256: not 64 hex digits". Plugins use it as the
// cte.Invalid and cte.Rejected reason, so values failing one rule group together.
func (e *ParseError) Reason() string { return e.Type.String() + ": " + e.Rule }

// Reason returns (*ParseError).Reason for an error that is or wraps a
// *ParseError, and err's text for any other error.
func Reason(err error) string {
	var pe *ParseError
	if errors.As(err, &pe) {
		return pe.Reason()
	}
	return err.Error()
}

func perr(t Type, raw, rule string) error {
	return &ParseError{Type: t, Value: Truncate(raw, 80), Rule: rule}
}

// Parse validates raw as an indicator of type t and returns its normal form:
//   - sha256, md5: surrounding space trimmed, lower-case hex of exactly 64 or 32 digits;
//   - url: http or https only; scheme and host lower-case, international host names
//     in punycode, default port and fragment dropped, empty path written "/";
//   - domain, hostname: lower-case, punycode, trailing dot dropped, at least two labels
//     of letters, digits, '-' or '_', each 1–63 bytes, 253 bytes in all;
//   - ipv4, ipv6: as net/netip prints them; an IPv4-mapped IPv6 address is accepted as
//     ipv4 (see Normalize to move it across types).
//
// Parse of an already normal hash, domain or IPv4 address does not allocate. The
// error is a *ParseError naming the value and the rule broken.
func Parse(t Type, raw string) (string, error) {
	switch t {
	case TypeSHA256:
		return parseHash(t, raw, 64)
	case TypeMD5:
		return parseHash(t, raw, 32)
	case TypeDomain, TypeHostname:
		return parseHost(t, raw, false)
	case TypeURL:
		return parseURL(raw)
	case TypeIPv4, TypeIPv6:
		return parseIP(t, raw)
	}
	return "", fmt.Errorf("ioc: %w: unknown type %d", ErrInvalid, uint8(t))
}

// Normalize is Parse that may move a value to the type it really has: an
// IPv4-mapped IPv6 address becomes ipv4.
func Normalize(t Type, raw string) (Type, string, error) {
	if t == TypeIPv6 {
		if a, err := netip.ParseAddr(trim(raw)); err == nil && a.Is4In6() && a.Zone() == "" { // trimmed as Parse trims
			return TypeIPv4, a.Unmap().String(), nil
		}
	}
	v, err := Parse(t, raw)
	return t, v, err
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// trim trims ASCII white space; it never allocates.
func trim(s string) string {
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// hexClass classifies bytes for hash parsing: 0 lower-case hex digit, 1 upper-case
// hex letter, 2 anything else. One table load per byte and a single branch at the
// end keep the already-normal case fast.
var hexClass = func() (t [256]uint8) {
	for i := range t {
		c := byte(i)
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
			t[i] = 0
		case 'A' <= c && c <= 'F':
			t[i] = 1
		default:
			t[i] = 2
		}
	}
	return t
}()

func parseHash(t Type, raw string, n int) (string, error) {
	s := trim(raw)
	if len(s) != n {
		return "", perr(t, raw, fmt.Sprintf("want %d hex digits, got %d characters", n, utf8.RuneCountInString(s)))
	}
	var acc uint8
	for i := 0; i < len(s); i++ {
		acc |= hexClass[s[i]]
	}
	if acc == 0 {
		return s, nil
	}
	if acc&2 != 0 {
		for i := 0; i < len(s); i++ {
			if hexClass[s[i]] == 2 {
				return "", perr(t, raw, fmt.Sprintf("not a hex digit at position %d", i+1))
			}
		}
	}
	return strings.ToLower(s), nil
}

// hostProfile maps international names to punycode for lookup. Label syntax is
// checked by checkHost afterwards, so underscores (seen in real malware hosts) pass.
var hostProfile = idna.New(idna.MapForLookup(), idna.Transitional(false), idna.StrictDomainName(false))

// parseHost normalises a host name. single allows a one-label name (inside URLs).
func parseHost(t Type, raw string, single bool) (string, error) {
	s := trim(raw)
	if len(s) > 0 && s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	if s == "" {
		return "", perr(t, raw, "empty")
	}
	ascii, lower := true, true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
		if 'A' <= c && c <= 'Z' {
			lower = false
		}
	}
	switch {
	case !ascii:
		a, err := hostProfile.ToASCII(s)
		if err != nil {
			return "", perr(t, raw, "not a valid international name: "+idnaReason(err))
		}
		s = a
	case !lower:
		s = strings.ToLower(s)
	}
	if rule := checkHost(s, single); rule != "" {
		return "", perr(t, raw, rule)
	}
	return s, nil
}

func idnaReason(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return msg
}

// checkHost returns the rule a lower-case ASCII host breaks, or "".
func checkHost(s string, single bool) string {
	if len(s) > 253 {
		return "longer than 253 characters"
	}
	labels, start, digitsOnly := 0, 0, true
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			c := s[i]
			switch {
			case '0' <= c && c <= '9':
			case 'a' <= c && c <= 'z', c == '_':
				digitsOnly = false
			case c == '-':
				digitsOnly = false
				if i == start {
					return "a label starts with '-'"
				}
			default:
				return fmt.Sprintf("character %q not allowed in a host name", rune(c))
			}
			continue
		}
		n := i - start
		if n == 0 {
			return "empty label"
		}
		if n > 63 {
			return "a label is longer than 63 characters"
		}
		if s[i-1] == '-' {
			return "a label ends with '-'"
		}
		labels++
		if i < len(s) {
			digitsOnly = true
		}
		start = i + 1
	}
	if labels < 2 && !single {
		return "need at least two labels, like example.com"
	}
	if digitsOnly {
		if _, err := netip.ParseAddr(s); err == nil {
			return "is an IP address: use type ipv4"
		}
		if labels > 1 {
			return "top-level label is all digits"
		}
	}
	return ""
}

func parseURL(raw string) (string, error) {
	s := trim(raw)
	if s == "" {
		return "", perr(TypeURL, raw, "empty")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f || s[i] == ' ' {
			return "", perr(TypeURL, raw, "contains a space or control character")
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", perr(TypeURL, raw, "not a URL: "+err.Error())
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.Scheme != "http" && u.Scheme != "https" {
		if u.Scheme == "" {
			return "", perr(TypeURL, raw, "no scheme: write http:// or https:// in front")
		}
		return "", perr(TypeURL, raw, "scheme must be http or https")
	}
	if u.Opaque != "" || u.Host == "" {
		return "", perr(TypeURL, raw, "no host")
	}
	host, port := u.Hostname(), u.Port()
	if strings.HasSuffix(u.Host, ":") {
		return "", perr(TypeURL, raw, "empty port")
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" {
			return "", perr(TypeURL, raw, "IPv6 zone not allowed")
		}
		a = a.Unmap()
		host = a.String()
		if a.Is6() {
			host = "[" + host + "]"
		}
	} else if strings.HasPrefix(u.Host, "[") {
		return "", perr(TypeURL, raw, "bad IPv6 literal")
	} else {
		h, err := parseHost(TypeURL, host, true)
		if err != nil {
			return "", perr(TypeURL, raw, "host: "+err.(*ParseError).Rule)
		}
		host = h
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return "", perr(TypeURL, raw, "port must be 1-65535")
		}
		port = strconv.Itoa(n)
		if (u.Scheme == "http" && n == 80) || (u.Scheme == "https" && n == 443) {
			port = ""
		}
	}
	if port != "" {
		host += ":" + port
	}
	u.Host = host
	u.Fragment, u.RawFragment = "", ""
	if u.Path == "" {
		u.Path, u.RawPath = "/", ""
	}
	return u.String(), nil
}

func parseIP(t Type, raw string) (string, error) {
	s := trim(raw)
	a, err := netip.ParseAddr(s)
	if err != nil {
		return "", perr(t, raw, "not an IP address")
	}
	if a.Zone() != "" {
		return "", perr(t, raw, "IPv6 zone not allowed")
	}
	switch {
	case t == TypeIPv4 && a.Is4In6():
		a = a.Unmap()
	case t == TypeIPv4 && !a.Is4():
		return "", perr(t, raw, "is an IPv6 address: use type ipv6")
	case t == TypeIPv6 && a.Is4():
		return "", perr(t, raw, "is an IPv4 address: use type ipv4")
	case t == TypeIPv6 && a.Is4In6():
		return "", perr(t, raw, "is an IPv4-mapped address: use type ipv4 with "+a.Unmap().String())
	}
	var buf [64]byte
	if b := a.AppendTo(buf[:0]); string(b) == s {
		return s, nil
	}
	return a.String(), nil
}

// Detect guesses the type of raw: a 64- or 32-digit hex string is a sha256 or md5
// hash, an IP address is ipv4 or ipv6 (IPv4-mapped is ipv4), a value with "://" is a
// url, and a valid host name is a domain. It reports false when nothing fits.
func Detect(raw string) (Type, bool) {
	s := trim(raw)
	if len(s) == 64 || len(s) == 32 {
		if isHex(s) {
			if len(s) == 64 {
				return TypeSHA256, true
			}
			return TypeMD5, true
		}
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return 0, false
		}
		if a.Is4() || a.Is4In6() {
			return TypeIPv4, true
		}
		return TypeIPv6, true
	}
	if strings.Contains(s, "://") {
		if _, err := parseURL(s); err == nil {
			return TypeURL, true
		}
		return 0, false
	}
	if _, err := parseHost(TypeDomain, s, false); err == nil {
		return TypeDomain, true
	}
	return 0, false
}

func isHex(s string) bool {
	var acc uint8
	for i := 0; i < len(s); i++ {
		acc |= hexClass[s[i]]
	}
	return acc&2 == 0
}
