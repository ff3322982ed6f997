package ioc

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseValid(t *testing.T) {
	t.Parallel()
	cases := []struct {
		typ  Type
		raw  string
		want string
	}{
		{TypeSHA256, "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f", "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"},
		{TypeSHA256, "  275A021BBFB6489E54D471899F7DB9D1663FC695EC2FE2A2C4538AABF651FD0F\n", "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"},
		{TypeMD5, "44D88612FEA8A8F36DE82E1278ABB02F", "44d88612fea8a8f36de82e1278abb02f"},
		{TypeDomain, "Evil.Example.COM.", "evil.example.com"},
		{TypeDomain, "bücher.example", "xn--bcher-kva.example"},
		{TypeDomain, "BÜCHER.example", "xn--bcher-kva.example"},
		{TypeHostname, "c2_node.evil.example", "c2_node.evil.example"},
		{TypeIPv4, " 203.0.113.7 ", "203.0.113.7"},
		{TypeIPv4, "::ffff:203.0.113.7", "203.0.113.7"},
		{TypeIPv6, "2001:DB8:0:0:0:0:0:7", "2001:db8::7"},
		{TypeURL, "HTTP://Evil.Example.COM:80/a/b?x=1#frag", "http://evil.example.com/a/b?x=1"},
		{TypeURL, "https://evil.example.com:443", "https://evil.example.com/"},
		{TypeURL, "https://evil.example.com:8443/p", "https://evil.example.com:8443/p"},
		{TypeURL, "http://bücher.example/ä", "http://xn--bcher-kva.example/%C3%A4"},
		{TypeURL, "http://[2001:DB8::1]:8080/x", "http://[2001:db8::1]:8080/x"},
		{TypeURL, "http://[::ffff:10.0.0.1]/x", "http://10.0.0.1/x"},
		{TypeURL, "http://localhost/x", "http://localhost/x"},
	}
	for _, tc := range cases {
		got, err := Parse(tc.typ, tc.raw)
		require.NoError(t, err, "%s %q", tc.typ, tc.raw)
		assert.Equal(t, tc.want, got, "%s %q", tc.typ, tc.raw)
		again, err := Parse(tc.typ, got)
		require.NoError(t, err)
		assert.Equal(t, got, again, "normal form is stable")
	}
}

func TestParseInvalid(t *testing.T) {
	t.Parallel()
	cases := []struct {
		typ  Type
		raw  string
		rule string
	}{
		{TypeSHA256, "", "want 64 hex digits, got 0 characters"},
		{TypeSHA256, "null", "want 64 hex digits, got 4 characters"},
		{TypeSHA256, strings.Repeat("g", 64), "not a hex digit at position 1"},
		{TypeMD5, "44d88612fea8a8f36de82e1278abb02f0", "want 32 hex digits, got 33 characters"},
		{TypeMD5, "44d88612fea8a8f36de82e1278abb0-f", "not a hex digit at position 31"},
		{TypeDomain, "localhost", "need at least two labels"},
		{TypeDomain, "-evil.example.com", "a label starts with '-'"},
		{TypeDomain, "evil-.example.com", "a label ends with '-'"},
		{TypeDomain, "evil..example.com", "empty label"},
		{TypeDomain, strings.Repeat("a", 64) + ".com", "a label is longer than 63 characters"},
		{TypeDomain, strings.Repeat("abcdefghi.", 26) + "com", "longer than 253 characters"},
		{TypeDomain, "evil example.com", "character ' ' not allowed"},
		{TypeDomain, "10.0.0.1", "is an IP address: use type ipv4"},
		{TypeDomain, "example.123", "top-level label is all digits"},
		{TypeDomain, "", "empty"},
		{TypeIPv4, "2001:db8::1", "is an IPv6 address: use type ipv6"},
		{TypeIPv4, "300.1.1.1", "not an IP address"},
		{TypeIPv6, "203.0.113.7", "is an IPv4 address: use type ipv4"},
		{TypeIPv6, "::ffff:203.0.113.7", "is an IPv4-mapped address: use type ipv4 with 203.0.113.7"},
		{TypeIPv6, "fe80::1%eth0", "IPv6 zone not allowed"},
		{TypeURL, "evil.example.com/x", "no scheme: write http:// or https:// in front"},
		{TypeURL, "ftp://evil.example.com/x", "scheme must be http or https"},
		{TypeURL, "javascript:alert(1)", "scheme must be http or https"},
		{TypeURL, "http:///x", "no host"},
		{TypeURL, "http://evil.example.com:99999/", "port must be 1-65535"},
		{TypeURL, "http://evil.example.com:/", "empty port"},
		{TypeURL, "http://ev il.example.com/", "contains a space or control character"},
		{TypeURL, "http://-x.example.com/", "host: a label starts with '-'"},
		{TypeURL, "", "empty"},
	}
	for _, tc := range cases {
		_, err := Parse(tc.typ, tc.raw)
		require.Error(t, err, "%s %q", tc.typ, tc.raw)
		var pe *ParseError
		require.ErrorAs(t, err, &pe)
		assert.True(t, errors.Is(err, ErrInvalid))
		assert.Equal(t, tc.typ, pe.Type)
		assert.Contains(t, pe.Rule, tc.rule, "%s %q", tc.typ, tc.raw)
		assert.Contains(t, err.Error(), tc.typ.String())
	}
	_, err := Parse(Type(99), "x")
	assert.ErrorIs(t, err, ErrInvalid)
}

func TestParseErrorTruncatesValue(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("z", 5000)
	_, err := Parse(TypeSHA256, long)
	require.Error(t, err)
	assert.Less(t, len(err.Error()), 200)
	assert.Contains(t, err.Error(), "…")
	_, err = Parse(TypeDomain, strings.Repeat("é", 100))
	require.Error(t, err)
	var pe *ParseError
	require.ErrorAs(t, err, &pe)
	assert.True(t, strings.HasSuffix(pe.Value, "…"))
	assert.NotContains(t, pe.Value, "\uFFFD", "truncation keeps runes whole")
}

func TestNormalizeMovesMappedIPv6ToIPv4(t *testing.T) {
	t.Parallel()
	typ, v, err := Normalize(TypeIPv6, "::ffff:198.51.100.1")
	require.NoError(t, err)
	assert.Equal(t, TypeIPv4, typ)
	assert.Equal(t, "198.51.100.1", v)
	typ, v, err = Normalize(TypeIPv6, "2001:db8::1")
	require.NoError(t, err)
	assert.Equal(t, TypeIPv6, typ)
	assert.Equal(t, "2001:db8::1", v)
	_, _, err = Normalize(TypeMD5, "x")
	assert.Error(t, err)
}

func TestDetect(t *testing.T) {
	t.Parallel()
	cases := map[string]Type{
		"275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f": TypeSHA256,
		"44D88612FEA8A8F36DE82E1278ABB02F":                                 TypeMD5,
		"203.0.113.7":                                                      TypeIPv4,
		"::ffff:203.0.113.7":                                               TypeIPv4,
		"2001:db8::7":                                                      TypeIPv6,
		"https://evil.example.com/x":                                       TypeURL,
		"Evil.Example.com":                                                 TypeDomain,
	}
	for raw, want := range cases {
		got, ok := Detect(raw)
		assert.True(t, ok, raw)
		assert.Equal(t, want, got, raw)
	}
	for _, raw := range []string{"", "hello", "ftp://x.example.com", "fe80::1%eth0", "44d88612fea8a8f36de82e1278abb02", "not a thing.com"} {
		_, ok := Detect(raw)
		assert.False(t, ok, raw)
	}
}

func TestParseNormalHashDoesNotAllocate(t *testing.T) {
	sha := "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
	for _, tc := range []struct {
		t Type
		v string
	}{{TypeSHA256, sha}, {TypeMD5, sha[:32]}, {TypeDomain, "evil.example.com"}, {TypeIPv4, "203.0.113.7"}} {
		n := testing.AllocsPerRun(100, func() {
			if _, err := Parse(tc.t, tc.v); err != nil {
				t.Fatal(err)
			}
		})
		assert.Zero(t, n, "%s", tc.t)
	}
}
