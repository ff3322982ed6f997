package pgstore_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/internal/pgtest"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/pgstore"
	"github.com/ctexchange/cte/sharing/store/storetest"
)

// expire makes every lease of the store's schema expired, as if its time had
// passed while its holder stalled.
func expire(t *testing.T, dsn string) {
	t.Helper()
	pgtest.Exec(t, dsn, `UPDATE cte_leases SET expires_at = clock_timestamp() - interval '1 second'`)
}

func TestLeaseAcquireRenewRelease(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := open(t, pgtest.DSN(t))
	a, ok, err := s.Acquire(ctx, "source/feed", "i1", time.Hour)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "i1", a.Holder)
	assert.True(t, a.Expires.After(time.Now().Add(50*time.Minute)), "expiry is now plus the lease time: %s", a.Expires)

	_, ok, err = s.Acquire(ctx, "source/feed", "i2", time.Hour)
	require.NoError(t, err)
	assert.False(t, ok, "another holder's live lease is not taken")

	r, ok, err := s.Acquire(ctx, "source/feed", "i1", 2*time.Hour)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, a.Token, r.Token, "a renewal keeps the token")
	assert.True(t, r.Expires.After(a.Expires))

	ls, err := s.Leases(ctx, "source/")
	require.NoError(t, err)
	require.Len(t, ls, 1)
	assert.Equal(t, "i1", ls[0].Holder)

	require.NoError(t, s.Release(ctx, r))
	ls, err = s.Leases(ctx, "source/")
	require.NoError(t, err)
	assert.Empty(t, ls, "a released lease is not listed")
	b, ok, err := s.Acquire(ctx, "source/feed", "i2", time.Hour)
	require.NoError(t, err)
	require.True(t, ok, "a released lease is free")
	assert.Greater(t, b.Token, a.Token, "a new holder gets a greater token")
	require.NoError(t, s.Release(ctx, a), "releasing a lease one lost is a no-op")
	_, ok, err = s.Acquire(ctx, "source/feed", "i1", time.Hour)
	require.NoError(t, err)
	assert.False(t, ok, "the stale release did not free i2's lease")

	for _, bad := range []struct {
		name, holder string
		ttl          time.Duration
	}{{"", "i1", time.Hour}, {"x", "", time.Hour}, {"x", "i1", 0}} {
		_, _, err := s.Acquire(ctx, bad.name, bad.holder, bad.ttl)
		assert.Error(t, err, "%+v", bad)
	}
}

// A stalled instance's write that commits after its lease expired and another
// instance took it is refused, and leaves nothing behind.
func TestLeaseExpiryRefusesLateWrite(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	s1, s2 := open(t, dsn), open(t, dsn)
	lease1, ok, err := s1.Acquire(t.Context(), "source/feed", "i1", time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	ctx1 := sharing.WithLeases(t.Context(), lease1)
	write := func(ctx context.Context, s sharing.Store, i int) error {
		return s.Update(ctx, func(tx sharing.Tx) error {
			_, err := tx.Merge("feed", []ioc.Indicator{{Type: ioc.TypeSHA256, Value: storetest.Hash(i)}}, t0)
			return err
		})
	}
	require.NoError(t, write(ctx1, s1, 1), "the holder writes while its lease lives")

	// i1 stalls in the middle of a write: its lease expires and i2 takes over.
	inside, resume := make(chan struct{}), make(chan struct{})
	var late error
	var wg sync.WaitGroup
	wg.Go(func() {
		late = s1.Update(ctx1, func(tx sharing.Tx) error {
			if _, err := tx.Merge("feed", []ioc.Indicator{{Type: ioc.TypeSHA256, Value: storetest.Hash(2)}}, t0); err != nil {
				return err
			}
			close(inside)
			<-resume
			return nil
		})
	})
	<-inside
	expire(t, dsn)
	lease2, ok, err := s2.Acquire(t.Context(), "source/feed", "i2", time.Minute)
	require.NoError(t, err)
	require.True(t, ok, "an expired lease is taken over")
	assert.Greater(t, lease2.Token, lease1.Token)
	close(resume)
	wg.Wait()
	require.ErrorIs(t, late, sharing.ErrLeaseLost, "the late write is refused")
	assert.ErrorContains(t, late, "source/feed")
	require.NoError(t, write(sharing.WithLeases(t.Context(), lease2), s2, 3), "the new holder writes")
	assert.ErrorIs(t, write(ctx1, s1, 4), sharing.ErrLeaseLost, "and the old one still cannot")

	var got []string
	require.NoError(t, s2.View(t.Context(), func(tx sharing.Tx) error {
		return tx.Records(func(r *sharing.Record) error { got = append(got, r.Value); return nil })
	}))
	assert.ElementsMatch(t, []string{storetest.Hash(1), storetest.Hash(3)}, got, "nothing of the refused writes is stored")

	// An expired lease nobody took is not enough either.
	expire(t, dsn)
	assert.ErrorIs(t, write(sharing.WithLeases(t.Context(), lease2), s2, 5), sharing.ErrLeaseLost)
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	open(t, dsn).Close()
	pgtest.Exec(t, dsn, `INSERT INTO cte_schema (version, name) VALUES (99, '0099_future.sql')`)
	_, err := pgstore.Open(t.Context(), dsn)
	require.ErrorIs(t, err, pgstore.ErrNewerSchema)
	assert.ErrorContains(t, err, "version 99")
	assert.ErrorContains(t, err, "upgrade cte")
}

// Instances starting together apply each migration once.
func TestOpenConcurrentMigrations(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			s, err := pgstore.Open(t.Context(), dsn, pgstore.WithMaxConns(2))
			if err == nil {
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	s := open(t, dsn)
	var n, v int
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		return pgstore.QueryRow(tx, `SELECT count(*), max(version) FROM cte_schema`, &n, &v)
	}))
	assert.Equal(t, pgstore.SchemaVersion, n, "one row per migration")
	assert.Equal(t, pgstore.SchemaVersion, v)
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	_, err := pgstore.Open(t.Context(), "postgres://u:s3cretpass@127.0.0.1:notaport/db")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cretpass", "the password never reaches an error")
	assert.ErrorContains(t, err, "postgres://user@host")

	base := pgtest.BaseDSN(t)
	bad := strings.Replace(base, "/cte?", "/no_such_db?", 1)
	require.NotEqual(t, base, bad)
	_, err = pgstore.Open(t.Context(), bad)
	require.Error(t, err)
	assert.ErrorContains(t, err, `database "no_such_db"`)
}

// A user with the privileges the package documents, and no CREATE on the
// schema, opens a database another user migrated and writes to it (Open ran
// CREATE TABLE IF NOT EXISTS at every start, which PostgreSQL refuses
// without CREATE even when the table exists).
func TestOpenWithoutCreateAfterMigration(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	open(t, dsn).Close()
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	schema := u.Query().Get("search_path")
	role := "r" + schema
	pgtest.Exec(t, dsn, `CREATE ROLE `+role+` LOGIN`)
	t.Cleanup(func() { pgtest.Exec(t, dsn, `DROP OWNED BY `+role+`; DROP ROLE `+role) })
	pgtest.Exec(t, dsn, `GRANT USAGE ON SCHEMA `+schema+` TO `+role+`;
		GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA `+schema+` TO `+role+`;
		GRANT USAGE ON ALL SEQUENCES IN SCHEMA `+schema+` TO `+role)
	u.User = url.User(role)
	s := open(t, u.String())
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, s.Update(t.Context(), func(tx sharing.Tx) error {
		if _, err := tx.Merge("feed", []ioc.Indicator{{Type: ioc.TypeSHA256, Value: storetest.Hash(1), LastSeen: now}}, now); err != nil {
			return err
		}
		return tx.Log(sharing.AuditEntry{Time: now, Message: "written without CREATE"})
	}))
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		_, ok, err := tx.Record(storetest.Hash(1))
		assert.True(t, ok)
		return err
	}))
}
