package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Env is the variable holding the test cluster's connection string.
const Env = "CTE_TEST_POSTGRES"

// BaseDSN returns the test cluster's connection string, or skips (or fails,
// when PostgreSQL is required) without one.
func BaseDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(Env)
	if dsn != "" {
		return dsn
	}
	msg := Env + " is not set: start a cluster with `scripts/testpg.sh start` and export the DSN it prints (make test does both)"
	if os.Getenv("CTE_REQUIRE_POSTGRES") != "" || os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// DSN returns a connection string to a new, empty schema of the test cluster
// (through the search_path parameter); the schema is dropped when the test ends.
func DSN(t testing.TB) string {
	t.Helper()
	base := BaseDSN(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	exec(t, base, `CREATE SCHEMA `+schema)
	t.Cleanup(func() { exec(t, base, `DROP SCHEMA `+schema+` CASCADE`) })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("pgtest: %s is not a postgres:// URL: %v", Env, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Exec runs sql on the test cluster, as the test database's owner.
func Exec(t testing.TB, dsn, sql string, args ...any) {
	t.Helper()
	exec(t, dsn, sql, args...)
}

func exec(t testing.TB, dsn, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("pgtest: connect to the test cluster: %v", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("pgtest: %s: %v", sql, err)
	}
}
