package ioc

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestNeverShareMD5Placeholder: an MD5-only hash list holds 32 "f" as its
// placeholder (Netskope's own empty list): it is never shared, as the 64 "f"
// of a SHA256 list is not.
func TestNeverShareMD5Placeholder(t *testing.T) {
	t.Parallel()
	assert.True(t, NeverShare(strings.Repeat("f", 32)))
	assert.True(t, NeverShare(Placeholder))
	assert.False(t, NeverShare(strings.Repeat("f", 31)+"e"))
}

// TestNormalizeTrimsAsParse: Normalize trims what Parse trims, no more: a
// no-break space before an IPv4-mapped IPv6 address is refused by both (it
// was taken by Normalize, as ipv4, and refused by Parse and Detect).
func TestNormalizeTrimsAsParse(t *testing.T) {
	t.Parallel()
	_, _, err := Normalize(TypeIPv6, "\u00a0::ffff:192.0.2.1")
	assert.Error(t, err)
	typ, v, err := Normalize(TypeIPv6, " ::ffff:192.0.2.1\t")
	assert.NoError(t, err)
	assert.Equal(t, TypeIPv4, typ)
	assert.Equal(t, "192.0.2.1", v)
}
