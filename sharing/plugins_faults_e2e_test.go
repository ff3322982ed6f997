package sharing_test

import (
	"errors"
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

// Issue 12 items 1 and 13 (issue 13 item 1) through the engine with the real
// plugins: create-batch answering 500 until the retries are spent fails the share
// (the CLI exits non-zero on it) and nothing is counted applied; a rate limit that
// asks for an hour reaches the engine as the contract's wait.
func TestMimecastBatchFailuresReachTheEngine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		fault func(*mimecasttest.Server)
		check func(t *testing.T, err error)
	}{
		{"outage", func(s *mimecasttest.Server) { s.ServerError(mimecasttest.PathCreateBatch, 100, 500) }, func(t *testing.T, err error) {
			var e *mimecast.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, 500, e.Status)
		}},
		{"rate limit", func(s *mimecasttest.Server) { s.RateLimit(mimecasttest.PathCreateBatch, 100, time.Hour) }, func(t *testing.T, err error) {
			require.ErrorIs(t, err, cte.ErrRateLimited)
			wait, ok := cte.RetryAfter(err)
			assert.True(t, ok)
			assert.Equal(t, time.Hour, wait)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			mc := mimecasttest.NewServer(t)
			ns := netskopetest.NewServer(t, netskopetest.WithAlerts(netskopetest.KindMalware, 30), netskopetest.WithAlerts(netskopetest.KindMalsite, 0))
			cr := mc.Credentials()
			mp, err := mimecast.NewPlugin(mimecast.Config{BaseURL: mc.URL, AppID: cr.AppID, AppKey: cte.Secret(cr.AppKey),
				AccessKey: cte.Secret(cr.AccessKey), SecretKey: cte.Secret(cr.SecretKey)},
				mimecast.WithHTTPClient(mc.Client()), mimecast.WithName("mimecast"),
				mimecast.WithRetry(mimecast.Retry{Max: 2, WaitMin: time.Millisecond, WaitMax: time.Millisecond}))
			require.NoError(t, err)
			np, err := netskope.NewPlugin(netskope.Config{TenantURL: ns.URL, V2Token: cte.Secret(ns.V2Token()), AlertTypes: []string{netskope.AlertMalware}, InitialRangeDays: 7},
				netskope.WithHTTPClient(ns.Client()), netskope.WithName("netskope"))
			require.NoError(t, err)
			eng, err := sharing.New(memstore.New())
			require.NoError(t, err)
			require.NoError(t, eng.AddPlugin("mimecast", mp, sharing.SourceSettings{}))
			require.NoError(t, eng.AddPlugin("netskope", np, sharing.SourceSettings{}))
			require.NoError(t, eng.AddRule(sharing.Rule{Name: "hashes", Filter: "type in (sha256, md5)"}))
			require.NoError(t, eng.AddSharing(ctx, sharing.Config{Name: "ns-to-mc", Source: "netskope", Rule: "hashes",
				Destination: "mimecast", Target: mimecast.TargetBlock}))
			tc.fault(mc)
			rep, err := eng.SyncSource(ctx, "netskope")
			require.Error(t, err, "a push that delivered nothing fails the sync")
			tc.check(t, err)
			require.NotEmpty(t, rep.Shares)
			assert.Zero(t, rep.Shares[0].Applied)
			assert.Empty(t, mc.Hashes())
			assert.False(t, errors.Is(err, cte.ErrInvalidConfig))
		})
	}
}

// The Netskope plugin's pages come from an iterator whose position the tenant
// keeps: a page whose store fails is served again (resend) by the next pull,
// and nothing is lost. The engine must not ask for the next page before it
// stored one (the plugin is no cte.PageAheadReader): a first version that read
// every plugin ahead moved the iterator past page 2 while page 2's store
// failed, and page 2's values never arrived (a review found it).
func TestNetskopeFailedPageIsReadAgain(t *testing.T) {
	t.Parallel()
	ns := netskopetest.NewServer(t, netskopetest.WithAlerts(netskopetest.KindMalware, 30),
		netskopetest.WithAlerts(netskopetest.KindMalsite, 0), netskopetest.WithPageSize(10))
	open := func(name string) *netskope.Plugin {
		p, err := netskope.NewPlugin(netskope.Config{TenantURL: ns.URL, V2Token: cte.Secret(ns.V2Token()),
			AlertTypes: []string{netskope.AlertMalware}, InitialRangeDays: 7},
			netskope.WithHTTPClient(ns.Client()), netskope.WithName(name))
		require.NoError(t, err)
		return p
	}
	sync := func(st sharing.Store, p *netskope.Plugin) error {
		eng, err := sharing.New(st)
		require.NoError(t, err)
		require.NoError(t, eng.AddPlugin("netskope", p, sharing.SourceSettings{}))
		_, err = eng.SyncSource(t.Context(), "netskope")
		return err
	}
	// every value, read by an iterator of its own (another index)
	want := memstore.New()
	require.NoError(t, sync(want, open("reference")))

	got := &faultyStore{Store: memstore.New(), fail: map[string]bool{}}
	got.failNthMerge(2)
	p := open("netskope")
	require.ErrorIs(t, sync(got, p), errDisk, "page 2's store fails")
	require.NoError(t, sync(got, p))
	assert.Equal(t, storetest.Values(t, want), storetest.Values(t, got), "page 2 was read again")
}

// The Mimecast plugin is read one page ahead (cte.PageAheadReader): a page
// whose store fails, and the page fetched after it, are fetched again by the
// next pull from the last stored checkpoint, and nothing is lost. The store
// fails at the first page, the second, one in the middle and the last, of the
// two hash feeds and the click logs (their URLs decoded by a second request).
func TestMimecastFailedPageIsReadAgain(t *testing.T) {
	t.Parallel()
	mc := mimecasttest.NewServer(t, mimecasttest.WithFeedPageSize(7), mimecasttest.WithClickLogs(60))
	cr := mc.Credentials()
	open := func() *mimecast.Plugin {
		p, err := mimecast.NewPlugin(mimecast.Config{BaseURL: mc.URL, AppID: cr.AppID, AppKey: cte.Secret(cr.AppKey),
			AccessKey: cte.Secret(cr.AccessKey), SecretKey: cte.Secret(cr.SecretKey),
			FeedTypes: []string{mimecast.FeedMalwareCustomer, mimecast.FeedMalwareGrid, mimecast.FeedMalsite}},
			mimecast.WithHTTPClient(mc.Client()), mimecast.WithName("mimecast"))
		require.NoError(t, err)
		return p
	}
	sync := func(st sharing.Store, p *mimecast.Plugin) (sharing.SyncReport, error) {
		eng, err := sharing.New(st)
		require.NoError(t, err)
		require.NoError(t, eng.AddPlugin("mimecast", p, sharing.SourceSettings{}))
		return eng.SyncSource(t.Context(), "mimecast")
	}
	want := memstore.New()
	rep, err := sync(want, open())
	require.NoError(t, err)
	require.Greater(t, rep.Pages, 100, "enough pages to fail some in the middle")
	t.Logf("%d pages", rep.Pages)
	for _, n := range []int{1, 2, rep.Pages / 2, rep.Pages} {
		got := &faultyStore{Store: memstore.New(), fail: map[string]bool{}}
		got.failNthMerge(n)
		p := open()
		_, err := sync(got, p)
		require.ErrorIs(t, err, errDisk, "page %d", n)
		_, err = sync(got, p)
		require.NoError(t, err)
		require.Equal(t, storetest.Values(t, want), storetest.Values(t, got), "page %d's store failed", n)
	}
}
