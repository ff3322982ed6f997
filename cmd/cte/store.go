package main

import (
	"sync"

	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/memstore"
)

// Interim until sharing/store/boltstore lands: one in-memory store per path for
// the life of the process.
var (
	memMu     sync.Mutex
	memStores = map[string]*memstore.Store{}
)

type keptOpen struct{ *memstore.Store }

func (keptOpen) Close() error { return nil }

// openStateFile opens the state file at path.
func openStateFile(path string) (sharing.Store, error) {
	memMu.Lock()
	defer memMu.Unlock()
	s := memStores[path]
	if s == nil {
		s = memstore.New()
		memStores[path] = s
	}
	return keptOpen{s}, nil
}
