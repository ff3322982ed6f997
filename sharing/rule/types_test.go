package rule

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/ioc"
)

func TestQueryTypes(t *testing.T) {
	t.Parallel()
	all := ioc.Types()
	notMD5 := []ioc.Type{ioc.TypeSHA256, ioc.TypeURL, ioc.TypeDomain, ioc.TypeHostname, ioc.TypeIPv4, ioc.TypeIPv6}
	tests := []struct {
		q                string
		types, unmatched []ioc.Type
	}{
		{"", all, nil},
		{"severity > low", all, all},
		{"type == md5", []ioc.Type{ioc.TypeMD5}, notMD5},
		{"type != md5", notMD5, []ioc.Type{ioc.TypeMD5}},
		{"type == md5 and severity > low", []ioc.Type{ioc.TypeMD5}, all},
		{"type == md5 or severity > low", all, notMD5},
		{"not (type == md5 or severity > low)", notMD5, all},
		{"not all", nil, all},
	}
	for _, tt := range tests {
		q, err := Parse(tt.q)
		require.NoError(t, err, tt.q)
		assert.Equal(t, tt.types, q.Types(), "Types of %q", tt.q)
		assert.Equal(t, tt.unmatched, q.TypesUnmatched(), "TypesUnmatched of %q", tt.q)
	}
}
