package netskope_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/netskope"
	"github.com/ctexchange/cte/netskope/netskopetest"
)

// Open the plugin from a registry, pull the alerts of a fake tenant and share two
// hashes to its File Hash List.
func Example() {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	s := netskopetest.New(
		netskopetest.WithClock(func() time.Time { return now }),
		netskopetest.WithAlerts(netskopetest.KindMalware, 14),
		netskopetest.WithAlerts(netskopetest.KindMalsite, 0),
		netskopetest.WithFileHashList("CE_Malware_Hashes"))
	defer s.Close()

	ctx := context.Background()
	var reg cte.Registry
	reg.Register(netskope.Driver())
	config, _ := json.Marshal(map[string]any{
		"tenant_url":      s.URL,
		"v2_token":        s.V2Token(),
		"v1_token":        s.V1Token(),
		"alert_types":     []string{"malware"},
		"hash_types":      []string{"sha256"},
		"file_hash_lists": "CE_Malware_Hashes",
	})
	p, err := reg.Open(ctx, "netskope", config, cte.WithName("Netskope Prod"), cte.WithClock(s.Now))
	if err != nil {
		fmt.Println(err)
		return
	}

	sha256s := 0
	for page, err := range p.Pull(ctx, nil) {
		if err != nil {
			fmt.Println(err)
			return
		}
		sha256s += len(page.Indicators)
	}
	// 14 alerts carry 12 SHA256 values; the empty file's hash comes twice and is
	// one indicator. (The sharing engine never shares it.)
	fmt.Println("sha256 indicators pulled:", sha256s)

	targets, _ := p.GetTargets(ctx)
	fmt.Println("target:", targets[0].ID, targets[0].Mode, targets[0].Limits.MaxBytes)

	res, err := p.Push(ctx, targets[0], []ioc.Indicator{
		{Type: ioc.TypeSHA256, Value: "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"},
		{Type: ioc.TypeSHA256, Value: "not a hash"},
	})
	fmt.Println("applied:", res.Applied, "rejected:", res.Rejected[0].Reason, err)
	fmt.Println("list:", s.FileHashList("CE_Malware_Hashes"))
	// Output:
	// sha256 indicators pulled: 11
	// target: file-hash-list/CE_Malware_Hashes replace 8388608
	// applied: 1 rejected: invalid sha256: want 64 hex digits, got 10 characters <nil>
	// list: [275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f]
}
