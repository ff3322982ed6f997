package netskope

import (
	"testing"
	"time"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/netskope/netskopetest"
	"github.com/ctexchange/cte/plugintest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	plugintest.Run(t, func(t *testing.T) plugintest.Harness {
		s := netskopetest.NewServer(t,
			netskopetest.WithFileHashList("CE_Malware_Hashes"),
			netskopetest.WithFileHashListTypes("CE_Malware_Hashes", "sha256"),
			netskopetest.WithURLList("CE_Malsites", "exact", "cedefaultpush.io"),
			netskopetest.WithPageSize(25))
		bad := newPlugin(t, s, func(c *Config) {
			c.V2Token = cte.Secret("wrong-v2-token")
			c.V1Token = cte.Secret("wrong-v1-token")
		})
		return plugintest.Harness{Plugin: newPlugin(t, s, nil), BadAuth: bad,
			RateLimit: func(wait time.Duration) { s.RateLimit("", 10, wait) }}
	})
}
