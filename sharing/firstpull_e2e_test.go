package sharing_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/mimecast"
	"github.com/ctexchange/cte/mimecast/mimecasttest"
	"github.com/ctexchange/cte/netskope"
	"github.com/ctexchange/cte/netskope/netskopetest"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/memstore"
	"github.com/ctexchange/cte/sharing/store/storetest"
)

// stepClock is a clock the test moves.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *stepClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// initial_range_days: 0 ("start at the first pull") in the Mimecast manifest is
// NoHistory. Rows that arrive after the first pull must be pulled by the next.
// TestMimecastNoHistoryPullsWhatComesAfter: with initial_range_days: 0 (no
// history), what arrives after the first pull is pulled by the next ones.
// The first pull found nothing and stored no checkpoint, so each pull was a
// first one, asking for the empty window at its own now: nothing was ever
// pulled.
func TestMimecastNoHistoryPullsWhatComesAfter(t *testing.T) {
	t.Parallel()
	clock := &stepClock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	mc := mimecasttest.NewServer(t, mimecasttest.WithClock(clock.Now))
	cr := mc.Credentials()
	mp, err := mimecast.NewPlugin(mimecast.Config{BaseURL: mc.URL, AppID: cr.AppID, AppKey: cte.Secret(cr.AppKey),
		AccessKey: cte.Secret(cr.AccessKey), SecretKey: cte.Secret(cr.SecretKey),
		FeedTypes: []string{mimecast.FeedMalwareCustomer}, InitialRangeDays: mimecast.NoHistory},
		mimecast.WithHTTPClient(mc.Client()), mimecast.WithName("mimecast"), mimecast.WithClock(clock.Now))
	require.NoError(t, err)
	st := memstore.New()
	eng, err := sharing.New(st)
	require.NoError(t, err)
	require.NoError(t, eng.AddPlugin("mimecast", mp, sharing.SourceSettings{}))
	for sync := 1; sync <= 3; sync++ {
		_, err := eng.SyncSource(t.Context(), "mimecast")
		require.NoError(t, err)
		clock.Add(5 * time.Minute)
		mc.GrowFeed(mimecast.FeedMalwareCustomer, 20) // new events between two syncs
	}
	_, err = eng.SyncSource(t.Context(), "mimecast")
	require.NoError(t, err)
	assert.Greater(t, len(storetest.Values(t, st)), 100, "60 events, an MD5 and a SHA256 each (some malformed), arrived after the first sync")
}

// The same with Netskope's initial_range_days 0 (also the zero Config's value).
// TestNetskopeZeroInitialRangePullsWhatComesAfter: with initial_range_days:
// 0, the alerts raised after the first pull are pulled by the next ones.
// The first pull's cursor started on an empty page and stored no
// checkpoint, so each pull started a new cursor at its own now, past every
// alert raised in between.
func TestNetskopeZeroInitialRangePullsWhatComesAfter(t *testing.T) {
	t.Parallel()
	clock := &stepClock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	ns := netskopetest.NewServer(t, netskopetest.WithClock(clock.Now), netskopetest.WithAlerts(netskopetest.KindMalware, 0),
		netskopetest.WithAlerts(netskopetest.KindMalsite, 0))
	np, err := netskope.NewPlugin(netskope.Config{TenantURL: ns.URL, V2Token: cte.Secret(ns.V2Token()),
		AlertTypes: []string{netskope.AlertMalware}, InitialRangeDays: 0},
		netskope.WithHTTPClient(ns.Client()), netskope.WithName("netskope"), netskope.WithClock(clock.Now))
	require.NoError(t, err)
	st := memstore.New()
	eng, err := sharing.New(st)
	require.NoError(t, err)
	require.NoError(t, eng.AddPlugin("netskope", np, sharing.SourceSettings{}))
	for sync := 1; sync <= 3; sync++ {
		_, err := eng.SyncSource(t.Context(), "netskope")
		require.NoError(t, err)
		clock.Add(5 * time.Minute)
		ns.AddGeneratedAlerts(netskopetest.KindMalware, 20)
		clock.Add(time.Second)
	}
	_, err = eng.SyncSource(t.Context(), "netskope")
	require.NoError(t, err)
	assert.Greater(t, len(storetest.Values(t, st)), 0, "60 alerts arrived after the first sync")
}
