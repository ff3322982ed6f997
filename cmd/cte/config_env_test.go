package main

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExpand(t *testing.T) {
	t.Parallel()
	env := testEnv("EMPTY", "", "X", "x")
	for _, tc := range []struct{ in, want, err string }{
		{in: "plain", want: "plain"},
		{in: "a${X}b${X}", want: "axbx"},
		{in: "$${X}", want: "${X}"},
		{in: "${EMPTY:-dflt}", want: "dflt"},
		{in: "${UNSET:-}", want: ""},
		{in: "${X:-dflt}", want: "x"},
		{in: "${EMPTY}", want: ""},
		{in: "${UNSET}", err: "environment variable UNSET is not set; export it, or write ${UNSET:-} to allow it to be empty"},
		{in: "${X", err: "${ without a closing }; write ${NAME}"},
		{in: "${1X}", err: "${1X} is not a variable reference; write ${NAME} with letters, digits and _"},
		{in: "${}", err: "${} is not a variable reference; write ${NAME} with letters, digits and _"},
	} {
		got, err := expand(tc.in, env)
		if tc.err != "" {
			assert.EqualError(t, err, tc.err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
}

// TestStatePasswordFromTheEnvironment: a password given as ${VAR} in a
// postgres:// URL reaches the database as it is, whatever it holds: it is
// escaped as a URL's password is. "s3cr#t/pw", "pa?ss-word" and "100%sure"
// were refused as not a valid URL, and "ab%41cd" arrived as "abAcd".
func TestStatePasswordFromTheEnvironment(t *testing.T) {
	t.Parallel()
	for _, pw := range []string{"s3cr#t/pw", "pa?ss-word", "100%sure", "ab%41cd", "p@ss:w rd", "plain-pass"} {
		y := strings.Replace(goodConfig, "state: state.db", "state: postgres://cte:${CTE_DB_PASSWORD}@db.example:5432/cte?sslmode=disable", 1)
		require.NotEqual(t, goodConfig, y)
		cfg, err := parseConfig("cte.yaml", []byte(y), newRegistry(), testEnv("CTE_DB_PASSWORD", pw))
		require.NoError(t, err, pw)
		u, err := url.Parse(cfg.State)
		require.NoError(t, err, pw)
		got, _ := u.User.Password()
		assert.Equal(t, pw, got, cfg.State)
		assert.Equal(t, "cte", u.User.Username())
		assert.Equal(t, "db.example:5432", u.Host)
		assert.Equal(t, "sslmode=disable", u.RawQuery)
	}
}
