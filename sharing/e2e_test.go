package sharing_test

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/mimecast"
	"github.com/ctexchange/cte/mimecast/mimecasttest"
	"github.com/ctexchange/cte/netskope"
	"github.com/ctexchange/cte/netskope/netskopetest"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/memstore"
)

// TestSeedWorkflowRealPlugins runs the seed deployment with the real Mimecast and
// Netskope plugins against their fakes: the Mimecast feed goes to a Netskope file
// hash list, Netskope malware alerts go to Mimecast's BLOCK operation; a second
// cycle sends nothing; aging retracts from Mimecast and, once forced past the
// guardrail, empties the Netskope list.
func TestSeedWorkflowRealPlugins(t *testing.T) {
	t.Parallel()
	const list = "CE_Malware_Hashes"
	mc := mimecasttest.New(mimecasttest.WithFeed(mimecasttest.FeedMalwareCustomer, 120), mimecasttest.WithFeedPageSize(50))
	t.Cleanup(mc.Close)
	ns := netskopetest.New(netskopetest.WithAlerts(netskopetest.KindMalware, 30), netskopetest.WithAlerts(netskopetest.KindMalsite, 0),
		netskopetest.WithFileHashList(list))
	t.Cleanup(ns.Close)
	ctx := t.Context()

	cr := mc.Credentials()
	mp, err := mimecast.NewPlugin(mimecast.Config{BaseURL: mc.URL, AppID: cr.AppID, AppKey: cte.Secret(cr.AppKey),
		AccessKey: cte.Secret(cr.AccessKey), SecretKey: cte.Secret(cr.SecretKey),
		FeedTypes: []string{mimecast.FeedMalwareCustomer}, HashTypes: []ioc.Type{ioc.TypeSHA256}},
		mimecast.WithHTTPClient(mc.Client()), mimecast.WithName("mimecast"))
	require.NoError(t, err)
	var reg cte.Registry
	reg.Register(netskope.Driver())
	nsConfig, err := json.Marshal(map[string]any{"tenant_url": ns.URL, "v2_token": ns.V2Token(), "v1_token": ns.V1Token(),
		"alert_types": []string{"malware"}, "hash_types": []string{"sha256"}, "file_hash_lists": list})
	require.NoError(t, err)
	np, err := reg.Open(ctx, "netskope", nsConfig, cte.WithName("netskope"), cte.WithHTTPClient(ns.Client()))
	require.NoError(t, err)

	var mu sync.Mutex
	offset := time.Duration(0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return time.Now().Add(offset) }
	eng, err := sharing.New(memstore.New(), sharing.WithClock(clock))
	require.NoError(t, err)
	require.NoError(t, eng.AddPlugin("mimecast", mp, sharing.SourceSettings{SyncInterval: 10 * time.Minute}))
	require.NoError(t, eng.AddPlugin("netskope", np, sharing.SourceSettings{SyncInterval: time.Hour}))
	require.NoError(t, eng.AddRule(sharing.Rule{Name: "sha256", Filter: "type == sha256"}))
	require.NoError(t, eng.AddSharing(ctx, sharing.Config{Name: "mc-to-ns", Source: "mimecast", Rule: "sha256",
		Destination: "netskope", Target: "file-hash-list/" + list}))
	require.NoError(t, eng.AddSharing(ctx, sharing.Config{Name: "ns-to-mc", Source: "netskope", Rule: "sha256",
		Destination: "mimecast", Target: mimecast.TargetBlock}))

	rep, err := eng.SyncSource(ctx, "mimecast")
	require.NoError(t, err)
	require.Positive(t, rep.Indicators)
	sr := rep.Shares[0]
	assert.True(t, sr.Pushed)
	assert.Positive(t, sr.Applied)
	assert.Len(t, ns.FileHashList(list), sr.Applied)

	rep, err = eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	require.Positive(t, rep.Indicators)
	sr = rep.Shares[0]
	assert.Positive(t, sr.Applied)
	blocked := 0
	for _, h := range mc.Hashes() {
		if h.Operation == "BLOCK" {
			blocked++
		}
	}
	assert.Equal(t, sr.Applied, blocked)

	// Second cycle: nothing new is sent to either product.
	batches, updates := mc.Count(mimecasttest.PathCreateBatch), ns.FileHashListUpdates(list)
	_, err = eng.SyncSource(ctx, "mimecast")
	require.NoError(t, err)
	_, err = eng.SyncSource(ctx, "netskope")
	require.NoError(t, err)
	assert.Equal(t, batches, mc.Count(mimecasttest.PathCreateBatch))
	assert.Equal(t, updates, ns.FileHashListUpdates(list))

	// Aging: everything is older than 90 days.
	mu.Lock()
	offset = 400 * 24 * time.Hour
	mu.Unlock()
	age, err := eng.Age(ctx)
	require.NoError(t, err)
	assert.Equal(t, blocked, age.Retracted)
	assert.Empty(t, mc.Hashes(), "aged hashes are deleted from Mimecast")
	// The list empties without force: values that aged out are the lifecycle
	// working, not what the guardrail guards against.
	_, err = eng.Share(ctx, "mc-to-ns")
	require.NoError(t, err)
	for _, v := range ns.FileHashList(list) {
		assert.Contains(t, v, "ffffffff", "only a placeholder may remain: %s", v)
	}
}
