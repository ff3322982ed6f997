package pgstore

import (
	"fmt"

	"github.com/ctexchange/cte/sharing"
)

// QueryRow runs a one-row query in a store transaction (tests only).
func QueryRow(t sharing.Tx, sql string, dest ...any) error {
	pt, ok := t.(*tx)
	if !ok {
		return fmt.Errorf("not a pgstore transaction: %T", t)
	}
	return pt.pg.QueryRow(pt.ctx, sql).Scan(dest...)
}
