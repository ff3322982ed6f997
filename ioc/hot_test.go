package ioc

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	hotSHA = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
	hotMD5 = "44d88612fea8a8f36de82e1278abb02f"
)

func TestIsNormal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		t    Type
		v    string
		want bool
	}{
		{TypeSHA256, hotSHA, true},
		{TypeMD5, hotMD5, true},
		{TypeSHA256, hotMD5, false},
		{TypeMD5, "44D88612FEA8A8F36DE82E1278ABB02F", false},
		{TypeSHA256, " " + hotSHA, false},
		{TypeMD5, "zz" + hotMD5[2:], false},
		{TypeDomain, "evil.example", true},
		{TypeDomain, "Evil.example", false},
		{TypeDomain, "evil.example.", false},
		{TypeHostname, "bad host", false},
		{TypeIPv4, "203.0.113.7", true},
		{TypeIPv4, "::ffff:203.0.113.7", false},
		{TypeIPv6, "2001:db8::7", true},
		{TypeIPv6, "2001:DB8::7", false},
		{TypeURL, "http://x.example/a", true},
		{TypeURL, "HTTP://x.example/a", false},
		{TypeURL, "http://x.example", false},
		{Type(0), hotSHA, false},
		{Type(99), hotSHA, false},
	} {
		assert.Equal(t, tc.want, IsNormal(tc.t, tc.v), "%s %q", tc.t, tc.v)
	}
}

func TestIsNormalDoesNotAllocate(t *testing.T) {
	for _, tc := range []struct {
		t Type
		v string
	}{{TypeSHA256, hotSHA}, {TypeMD5, hotMD5}, {TypeDomain, "evil.example"}, {TypeIPv4, "203.0.113.7"}, {TypeIPv6, "2001:db8::7"}} {
		allocs := testing.AllocsPerRun(100, func() {
			if !IsNormal(tc.t, tc.v) {
				t.Fatalf("%s %q is normal", tc.t, tc.v)
			}
		})
		assert.Zero(t, allocs, "%s %q", tc.t, tc.v)
	}
}

func TestAppendHash(t *testing.T) {
	t.Parallel()
	got, err := AppendHash([]byte("x|"), TypeSHA256, []byte(" 275A021BBFB6489E54D471899F7DB9D1663FC695EC2FE2A2C4538AABF651FD0F\t"))
	require.NoError(t, err)
	assert.Equal(t, "x|"+hotSHA, string(got), "trimmed and lower-cased")
	got, err = AppendHash(nil, TypeMD5, []byte(hotMD5))
	require.NoError(t, err)
	assert.Equal(t, hotMD5, string(got))

	for _, tc := range []struct {
		t      Type
		raw    string
		reason string
	}{
		{TypeSHA256, "abc", "sha256: want 64 hex digits, got 3 characters"},
		{TypeMD5, "zz" + hotMD5[2:], "md5: not a hex digit at position 1"},
		{TypeMD5, "", "md5: want 32 hex digits, got 0 characters"},
		{TypeMD5, hotSHA, "md5: want 32 hex digits, got 64 characters"},
	} {
		dst := []byte("keep")
		out, err := AppendHash(dst, tc.t, []byte(tc.raw))
		var pe *ParseError
		require.True(t, errors.As(err, &pe), "%q: %v", tc.raw, err)
		assert.ErrorIs(t, err, ErrInvalid)
		assert.Equal(t, tc.reason, pe.Reason())
		assert.Equal(t, "keep", string(out), "dst unchanged on error")
	}
	_, err = AppendHash(nil, TypeDomain, []byte("evil.example"))
	assert.ErrorContains(t, err, "not a hash type", "only hash types")
}

func TestAppendHashDoesNotAllocate(t *testing.T) {
	raw := []byte("275A021BBFB6489E54D471899F7DB9D1663FC695EC2FE2A2C4538AABF651FD0F")
	buf := make([]byte, 0, 128)
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		if buf, err = AppendHash(buf[:0], TypeSHA256, raw); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}

func BenchmarkIsNormalSHA256(b *testing.B) {
	b.ReportAllocs()
	ok := true
	for b.Loop() {
		ok = ok && IsNormal(TypeSHA256, hotSHA)
	}
	if !ok {
		b.Fatal("not normal")
	}
}

func BenchmarkAppendHashSHA256(b *testing.B) {
	raw := []byte(hotSHA)
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = AppendHash(buf[:0], TypeSHA256, raw)
	}
}
