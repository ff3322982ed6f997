package boltstore

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/storetest"
)

// TestCheckWhileWriting checks a sound store 20 times while Updates merge
// and mark entries inactive: every Check says it is sound. bbolt checks
// the freelist the writer changes: beside a writer, Check reported a sound
// file damaged ("reachable freed"), raced (go test -race), or crashed on a
// map written while iterated.
func TestCheckWhileWriting(t *testing.T) {
	t.Parallel()
	s, err := Open(filepath.Join(t.TempDir(), "state.db"), withFoldAt(3000))
	require.NoError(t, err)
	defer s.Close()
	ctx := context.Background()
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for p := range 10 {
		require.NoError(t, s.Update(ctx, func(tx sharing.Tx) error {
			_, err := tx.Merge("a", storetest.Page(p, 2000), now)
			return err
		}))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for p := 0; ; p++ {
			select {
			case <-stop:
				return
			default:
			}
			in := storetest.Page(p%40, 500)
			_ = s.Update(ctx, func(tx sharing.Tx) error {
				if _, err := tx.Merge("a", in, now.Add(time.Duration(p)*time.Second)); err != nil {
					return err
				}
				return tx.SetInactive("a", []string{in[0].Value}, now)
			})
		}
	})
	for range 20 {
		if err := s.Check(ctx); err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("Check beside a writer: %v", err)
		}
	}
	close(stop)
	wg.Wait()
}
