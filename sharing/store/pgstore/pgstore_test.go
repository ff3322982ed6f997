package pgstore_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/internal/pgtest"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/pgstore"
	"github.com/ctexchange/cte/sharing/store/storetest"
)

func open(t testing.TB, dsn string) *pgstore.Store {
	t.Helper()
	s, err := pgstore.Open(t.Context(), dsn, pgstore.WithMaxConns(8))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) sharing.Store { return open(t, pgtest.DSN(t)) })
}
