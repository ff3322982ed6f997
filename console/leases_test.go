package console_test

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/console"
	"github.com/ctexchange/cte/internal/pgtest"
	"github.com/ctexchange/cte/plugintest"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/pgstore"
)

// /metrics shows the leases an instance on PostgreSQL holds while it runs,
// their expiry, and 0 for them once it stopped and released them.
func TestMetricsLeaseGauges(t *testing.T) {
	t.Parallel()
	s, err := pgstore.Open(t.Context(), pgtest.DSN(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	eng, err := sharing.New(s, sharing.WithInstance("node-a", time.Minute))
	require.NoError(t, err)
	require.NoError(t, eng.AddPlugin("s1", plugintest.NewFake(), sharing.SourceSettings{SyncInterval: time.Hour}))
	w := serve(t, eng, console.Options{})

	_, body := w.do(t, "GET", "/metrics", "")
	assert.Contains(t, body, `cte_instance_info{instance="node-a"} 1`)
	assert.NotContains(t, body, "cte_lease_held{", "nothing held before Run")

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		assert.NoError(t, eng.Run(ctx))
	}()
	t.Cleanup(func() { cancel(); <-done })
	require.Eventually(t, func() bool { return len(eng.HeldLeases()) == 2 }, time.Minute, 10*time.Millisecond,
		"the instance and its source")

	code, body := w.do(t, "GET", "/metrics", "")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `cte_lease_held{lease="instance/node-a"} 1`)
	assert.Contains(t, body, `cte_lease_held{lease="source/s1"} 1`)
	ls, err := s.Leases(t.Context(), "source/s1")
	require.NoError(t, err)
	require.Len(t, ls, 1)
	m := regexp.MustCompile(`cte_lease_expiry_timestamp_seconds\{lease="source/s1"\} (\S+)`).FindStringSubmatch(body)
	require.NotNil(t, m, body)
	exp, err := strconv.ParseFloat(m[1], 64)
	require.NoError(t, err)
	assert.InDelta(t, float64(ls[0].Expires.UnixNano())/1e9, exp, time.Minute.Seconds(), "the database's expiry (renewed every 20s)")
	assert.Greater(t, exp, float64(time.Now().Unix()))

	cancel()
	<-done
	_, body = w.do(t, "GET", "/metrics", "")
	assert.Contains(t, body, `cte_lease_held{lease="source/s1"} 0`, "released when the instance stopped")
	assert.Contains(t, body, `cte_lease_held{lease="instance/node-a"} 0`)
	assert.NotContains(t, body, "cte_lease_expiry_timestamp_seconds{")
}

// An engine on a store without leases shows its name and no lease.
func TestMetricsNoLeasesWithoutLeaser(t *testing.T) {
	t.Parallel()
	w := newWorld(t, console.Options{})
	_, body := w.do(t, "GET", "/metrics", "")
	assert.Regexp(t, `cte_instance_info\{instance="[^"]+"\} 1`, body)
	assert.NotContains(t, body, "cte_lease_held{")
}
