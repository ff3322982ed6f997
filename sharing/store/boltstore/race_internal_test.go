package boltstore

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/storetest"
)

// TestIndexCountWhileViewsRead: Views read staged versions (and the
// index's count, to choose how to read the log) while Updates publish: go
// test -race finds no race. A View read index.n without the index's lock.
func TestIndexCountWhileViewsRead(t *testing.T) {
	t.Parallel()
	s, err := Open(filepath.Join(t.TempDir(), "state.db"))
	require.NoError(t, err)
	defer s.Close()
	ctx := context.Background()
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	in := []ioc.Indicator{}
	for i := range 50 {
		in = append(in, ioc.Indicator{Type: ioc.TypeSHA256, Value: storetest.Hash(i), LastSeen: now})
	}
	require.NoError(t, s.Update(ctx, func(tx sharing.Tx) error { _, err := tx.Merge("a", in, now); return err }))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_ = s.View(ctx, func(tx sharing.Tx) error {
					for i := range 50 {
						if _, _, err := tx.Record(storetest.Hash(i)); err != nil {
							return err
						}
					}
					return nil
				})
			}
		}()
	}
	for i := range 300 {
		x := []ioc.Indicator{{Type: ioc.TypeSHA256, Value: storetest.Hash(1000 + i), LastSeen: now}}
		require.NoError(t, s.Update(ctx, func(tx sharing.Tx) error { _, err := tx.Merge("a", x, now); return err }))
	}
	close(stop)
	wg.Wait()
}
