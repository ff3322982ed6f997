package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/sharing"
)

func TestParseConfigPostgresState(t *testing.T) {
	t.Parallel()
	y := edit(t, "state: state.db\n", "state: postgres://cte:${PGPW}@db.example:5432/cte?sslmode=require\nlease: 45s\n")
	cfg, err := parseConfig("/etc/cte/cte.yaml", []byte(y), newRegistry(), testEnv("PGPW", "pg-s3cret"))
	require.NoError(t, err)
	assert.Equal(t, "postgres://cte:pg-s3cret@db.example:5432/cte?sslmode=require", cfg.State, "a URL is not a path under the file's folder")
	assert.Equal(t, 45*time.Second, cfg.Lease)
	assert.Contains(t, cfg.secrets, "pg-s3cret", "the password is scrubbed from every output")
	assert.Equal(t, "database postgres://cte:xxxxx@db.example:5432/cte?sslmode=require", stateName(cfg.State))
	assert.Equal(t, "file /x/state.db", stateName("/x/state.db"))

	y = edit(t, "state: state.db\n", "state: postgresql://cte@db.example/cte\n")
	cfg, err = parseConfig("cte.yaml", []byte(y), newRegistry(), testEnv())
	require.NoError(t, err)
	assert.Equal(t, sharing.DefaultLeaseTTL, cfg.Lease, "default lease")
	assert.Equal(t, "database postgresql://cte@db.example/cte", stateName(cfg.State))
}

func TestParseConfigLeaseErrors(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"state: postgres://cte@db/cte\nlease: soon\n": `cte.yaml:3: lease: "soon" is not a duration of a second or more; write e.g. 30s (the default) or 2m`,
		"state: postgres://cte@db/cte\nlease: 10ms\n": `cte.yaml:3: lease: "10ms" is not a duration of a second or more; write e.g. 30s (the default) or 2m`,
		"state: postgres://%zz/cte\n":                 `cte.yaml:2: state: is not a valid PostgreSQL URL; write postgres://user@host:5432/database?sslmode=require (password in PGPASSWORD, or ${VAR})`,
	} {
		_, err := parseConfig("cte.yaml", []byte(edit(t, "state: state.db\n", in)), newRegistry(), testEnv())
		require.Error(t, err, in)
		assert.Contains(t, err.Error(), want, in)
	}
	cfg, err := parseConfig("cte.yaml", []byte(edit(t, "state: state.db\n", "state: state.db\nlease: 1m\n")), newRegistry(), testEnv())
	require.NoError(t, err)
	assert.Equal(t, []string{"cte.yaml:3: lease: only applies to a postgres:// state shared by several instances; a state file has one instance"}, cfg.Warnings)
}
