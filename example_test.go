package cte_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/plugintest"
)

// A host registers the drivers it wants, then opens configured plugins by name.
func ExampleRegistry() {
	var reg cte.Registry
	reg.Register(cte.Driver{
		Name: "demo",
		Manifest: cte.Manifest{ID: "demo", Name: "Demo", Version: "1.0.0",
			Capabilities: cte.Capabilities{Pull: true, Push: true},
			Config: []cte.Field{
				{Key: "api_key", Label: "API key", Type: cte.FieldPassword, Required: true},
			}},
		Open: func(context.Context, json.RawMessage, cte.Options) (cte.Plugin, error) {
			f := plugintest.NewFake(cte.Target{ID: "blocklist", Mode: cte.Append, Types: []ioc.Type{ioc.TypeSHA256}})
			return f, nil
		},
	})

	_, err := reg.Open(context.Background(), "demo", json.RawMessage(`{}`))
	fmt.Println(err, errors.Is(err, cte.ErrInvalidConfig))

	p, err := reg.Open(context.Background(), "demo", json.RawMessage(`{"api_key":"k"}`))
	if err != nil {
		panic(err)
	}
	targets, _ := p.GetTargets(context.Background())
	res, _ := p.Push(context.Background(), targets[0], []ioc.Indicator{
		{Type: ioc.TypeSHA256, Value: "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"},
		{Type: ioc.TypeSHA256, Value: "not-a-hash"},
	})
	fmt.Println(res.Applied, res.Rejected[0].Value, res.Rejected[0].Reason)
	// Output:
	// cte: open demo: invalid configuration: api_key: required (API key) true
	// 1 not-a-hash not a valid sha256
}
