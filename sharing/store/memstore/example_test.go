package memstore_test

import (
	"context"
	"fmt"
	"time"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/memstore"
)

// A page of indicators and the checkpoint after it are stored in one Update:
// both or neither.
func Example() {
	ctx := context.Background()
	s := memstore.New()
	defer s.Close()

	page := cte.Page{
		Indicators: []ioc.Indicator{
			{Type: ioc.TypeSHA256, Value: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b856", Severity: ioc.SeverityHigh},
			{Type: ioc.TypeDomain, Value: "evil.example", Tags: []string{"c2"}},
		},
		Next: cte.Checkpoint("token-2"),
	}
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	err := s.Update(ctx, func(tx sharing.Tx) error {
		st, err := tx.Merge("mimecast", page.Indicators, now)
		if err != nil {
			return err
		}
		fmt.Printf("new %d, added %d, updated %d\n", st.New, st.Added, st.Updated)
		return tx.SetCheckpoint("mimecast", page.Next)
	})
	if err != nil {
		panic(err)
	}

	_ = s.View(ctx, func(tx sharing.Tx) error {
		cp, _ := tx.Checkpoint("mimecast")
		fmt.Printf("resume from %s\n", cp)
		return tx.Records(func(r *sharing.Record) error {
			fmt.Println(r.Type, r.Value, r.Sources())
			return nil
		})
	})
	// Output:
	// new 2, added 0, updated 0
	// resume from token-2
	// sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b856 [mimecast]
	// domain evil.example [mimecast]
}
