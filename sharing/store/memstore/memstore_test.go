package memstore_test

import (
	"testing"

	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/memstore"
	"github.com/ctexchange/cte/sharing/store/storetest"
)

func TestStore(t *testing.T) {
	t.Parallel()
	open := func(t *testing.T) sharing.Store {
		s := memstore.New()
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	storetest.Run(t, open)
	storetest.RunRanked(t, open)
}
