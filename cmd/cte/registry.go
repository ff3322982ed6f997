package main

import (
	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/mimecast"
	"github.com/ctexchange/cte/netskope"
)

// newRegistry returns the plugin types cte knows: the config's plugins.NAME.type.
func newRegistry() *cte.Registry {
	var r cte.Registry
	r.Register(mimecast.Driver())
	r.Register(netskope.Driver())
	return &r
}
