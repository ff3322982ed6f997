package sharing_test

import (
	"context"
	"fmt"
	"time"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/plugintest"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/memstore"
)

// A feed shared to an email gateway's BLOCK operation: a sync pulls the feed and
// shares what matches; a second sync sends nothing new.
func ExampleEngine() {
	ctx := context.Background()
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	store := memstore.New()
	defer store.Close()
	eng, err := sharing.New(store, sharing.WithClock(func() time.Time { return now }))
	if err != nil {
		panic(err)
	}

	feed := plugintest.NewFake()
	feed.Feed(
		ioc.Indicator{Type: ioc.TypeMD5, Value: "0cc175b9c0f1b6a831c399e269772661", Severity: ioc.SeverityHigh, LastSeen: now},
		ioc.Indicator{Type: ioc.TypeMD5, Value: "92eb5ffee6ae2fec3ad71c777531578f", Severity: ioc.SeverityLow, LastSeen: now},
		ioc.Indicator{Type: ioc.TypeMD5, Value: ioc.EmptyMD5, Severity: ioc.SeverityHigh, LastSeen: now}, // never shared
	)
	gateway := plugintest.NewFake(cte.Target{ID: "operation/BLOCK", Mode: cte.Append, Types: []ioc.Type{ioc.TypeMD5, ioc.TypeSHA256}})

	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	must(eng.AddPlugin("feed", feed, sharing.SourceSettings{SyncInterval: 10 * time.Minute}))
	must(eng.AddPlugin("gateway", gateway, sharing.SourceSettings{PushOnly: true}))
	must(eng.AddRule(sharing.Rule{Name: "high", Filter: "severity >= high"}))
	must(eng.AddSharing(ctx, sharing.Config{Name: "feed-to-gateway", Source: "feed", Rule: "high",
		Destination: "gateway", Target: "operation/BLOCK"}))

	rep, err := eng.SyncSource(ctx, "feed")
	must(err)
	fmt.Printf("pulled %d, applied %d\n", rep.Indicators, rep.Shares[0].Applied)
	fmt.Println(gateway.Contents("operation/BLOCK"))

	rep, err = eng.SyncSource(ctx, "feed")
	must(err)
	fmt.Printf("second sync: pulled %d, sent %d, unchanged %d\n", rep.Indicators, rep.Shares[0].Sent, rep.Shares[0].Unchanged)

	ex, err := eng.Explain(ctx, "92EB5FFEE6AE2FEC3AD71C777531578F")
	must(err)
	fmt.Println(ex.Sharing[0].Why)
	// Output:
	// pulled 3, applied 1
	// [0cc175b9c0f1b6a831c399e269772661]
	// second sync: pulled 0, sent 0, unchanged 1
	// rule "high": filter did not match: severity >= high: false (severity is low)
}

// Plan says what a share would do, without doing it.
func ExampleEngine_Plan() {
	ctx := context.Background()
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	store := memstore.New()
	defer store.Close()
	eng, _ := sharing.New(store, sharing.WithClock(func() time.Time { return now }))
	feed := plugintest.NewFake()
	for i := range 5 {
		feed.Feed(ioc.Indicator{Type: ioc.TypeSHA256, Value: fmt.Sprintf("%064x", i+1), Severity: ioc.Severity(i), LastSeen: now})
	}
	list := cte.Target{ID: "file-hash-list/CE", Mode: cte.Replace, Types: []ioc.Type{ioc.TypeSHA256}, Limits: cte.Limits{MaxItems: 2}}
	_ = eng.AddPlugin("feed", feed, sharing.SourceSettings{})
	_ = eng.AddPlugin("tenant", plugintest.NewFake(list), sharing.SourceSettings{PushOnly: true})
	_ = eng.AddRule(sharing.Rule{Name: "all", Muted: true}) // muted: the sync only stores
	_ = eng.AddSharing(ctx, sharing.Config{Name: "hashes", Source: "feed", Rule: "all", Destination: "tenant", Target: list.ID})
	_, _ = eng.SyncSource(ctx, "feed")

	p, err := eng.Plan(ctx, "hashes", 0)
	if err != nil {
		panic(err)
	}
	fmt.Printf("matched %d (%d bytes), new %d, over capacity %d, would push %v\n",
		p.Matched, p.ByType[ioc.TypeSHA256].Bytes, p.New, p.OverCapacity, p.WouldPush)
	// Output:
	// matched 5 (325 bytes), new 2, over capacity 3, would push true
}
