package boltstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/boltstore"
)

// The checkpoint stored with a page is there after the file is reopened; a
// second process cannot open the file while the first holds it.
func Example() {
	dir, _ := os.MkdirTemp("", "cte-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "state.db")
	ctx := context.Background()

	s, err := boltstore.Open(path)
	if err != nil {
		panic(err)
	}
	_ = s.Update(ctx, func(tx sharing.Tx) error { return tx.SetCheckpoint("mimecast", cte.Checkpoint("token-7")) })

	_, err = boltstore.Open(path, boltstore.WithLockTimeout(0))
	fmt.Println(err != nil)
	_ = s.Close()

	s, err = boltstore.Open(path)
	if err != nil {
		panic(err)
	}
	defer s.Close()
	_ = s.View(ctx, func(tx sharing.Tx) error {
		cp, _ := tx.Checkpoint("mimecast")
		fmt.Printf("resume from %s\n", cp)
		return nil
	})
	// Output:
	// true
	// resume from token-7
}
