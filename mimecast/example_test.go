package mimecast_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/mimecast"
	"github.com/ctexchange/cte/mimecast/mimecasttest"
)

// Example pulls the customer malware feed from the fake Mimecast API with API 1.0
// keys and blocks one hash.
func Example() {
	s := mimecasttest.New(mimecasttest.WithFeed(mimecasttest.FeedMalwareCustomer, 120), mimecasttest.WithFeedPageSize(50))
	defer s.Close()
	cr := s.Credentials()

	p, err := mimecast.NewPlugin(mimecast.Config{
		BaseURL:   s.URL,
		AppID:     cr.AppID,
		AppKey:    cte.Secret(cr.AppKey),
		AccessKey: cte.Secret(cr.AccessKey),
		SecretKey: cte.Secret(cr.SecretKey),
		FeedTypes: []string{mimecast.FeedMalwareCustomer},
		HashTypes: []ioc.Type{ioc.TypeSHA256},
	}, mimecast.WithHTTPClient(s.Client()), mimecast.WithName("mimecast-demo"))
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	if err := p.Validate(ctx); err != nil {
		fmt.Println(err)
		return
	}
	pages, hashes, invalid := 0, 0, 0
	for page, err := range p.Pull(ctx, nil) {
		if err != nil {
			fmt.Println(err)
			return
		}
		pages++
		hashes += len(page.Indicators)
		for _, x := range page.Invalid {
			invalid += x.Count
		}
	}
	fmt.Println("pages:", pages, "hashes:", hashes, "invalid:", invalid)

	res, err := p.Push(ctx, cte.Target{ID: mimecast.TargetBlock}, []ioc.Indicator{{
		Type: ioc.TypeSHA256, Value: "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f", Comments: "seen in a phish",
	}})
	fmt.Println("applied:", res.Applied, "error:", err)
	fmt.Println("create-batch requests:", s.Count(mimecasttest.PathCreateBatch))
	// Output:
	// pages: 3 hashes: 112 invalid: 8
	// applied: 1 error: <nil>
	// create-batch requests: 1
}

// A host that builds the configuration as a typed Config opens the plugin through
// a registry with Config.JSON; json.Marshal would write the secrets redacted.
func ExampleConfig_JSON() {
	s := mimecasttest.New()
	defer s.Close()
	cr := s.Credentials()
	cfg := mimecast.Config{
		BaseURL:   s.URL,
		AppID:     cr.AppID,
		AppKey:    cte.Secret(cr.AppKey),
		AccessKey: cte.Secret(cr.AccessKey),
		SecretKey: cte.Secret(cr.SecretKey),
		HashTypes: []ioc.Type{ioc.TypeSHA256},
	}
	raw, err := cfg.JSON()
	if err != nil {
		fmt.Println(err)
		return
	}
	var reg cte.Registry
	reg.Register(mimecast.Driver())
	p, err := reg.Open(context.Background(), mimecast.DriverName, raw, cte.WithHTTPClient(s.Client()))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("validate:", p.Validate(context.Background()))

	redacted, _ := json.Marshal(cfg)
	_, err = reg.Open(context.Background(), mimecast.DriverName, redacted)
	fmt.Println(err != nil)
	// Output:
	// validate: <nil>
	// true
}
