package main

import (
	"context"
	"net/url"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/boltstore"
	"github.com/ctexchange/cte/sharing/store/pgstore"
)

// openStateFile opens the state: a PostgreSQL database when state is a
// postgres:// URL (shared by several cte instances), else (creating it if
// needed) the bbolt state file at that path. While "cte run" holds a state
// file, other commands wait a second for the lock, then fail with a message
// saying the file is in use; a database has no such lock.
func openStateFile(state string) (sharing.Store, error) {
	if isPostgres(state) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, rest, _ := strings.Cut(state, "://")
		return pgstore.Open(ctx, "postgres://"+rest) // pgx takes the scheme in lower case only
	}
	return boltstore.Open(state)
}

// isPostgres reports whether state names a PostgreSQL database.
// The scheme is case-insensitive, as a URL's is: "PostgreSQL://" is one
// too (it was taken for a file name, and its password printed in the error).
func isPostgres(state string) bool {
	scheme, _, ok := strings.Cut(state, "://")
	return ok && (strings.EqualFold(scheme, "postgres") || strings.EqualFold(scheme, "postgresql"))
}

// stateName is state for messages: a URL without its password.
func stateName(state string) string {
	if !isPostgres(state) {
		return "file " + state
	}
	return "database " + stateShown(state)
}

// stateShown is the state as outputs show it: a file's path, or a database
// URL without its password.
func stateShown(state string) string {
	if !isPostgres(state) {
		return state
	}
	u, err := url.Parse(state)
	if err != nil {
		return "(unparsable URL)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	if q := u.Query(); q.Has("password") { // pgx takes one here too
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// postgresState checks a postgres:// state URL and keeps its password (from
// ${ENV} or written in) out of every output. PGPASSWORD and ~/.pgpass work as
// with psql when the URL has none.
func (l *loader) postgresState(n *yaml.Node, state string) {
	u, err := url.Parse(state)
	if err != nil || u.Host == "" {
		l.errorf(n, "state", "is not a valid PostgreSQL URL; write postgres://user@host:5432/database?sslmode=require (password in PGPASSWORD, or ${VAR})")
		return
	}
	if p, ok := u.User.Password(); ok {
		l.addSecret(p)
		l.addSecret(url.QueryEscape(p))
		l.addSecret(rawPassword(state)) // as written: "my%20pass" is "my pass"
	}
	if p := u.Query().Get("password"); p != "" { // ?password=, which pgx takes too
		l.addSecret(p)
		l.addSecret(url.QueryEscape(p))
		if _, raw, ok := strings.Cut(u.RawQuery, "password="); ok {
			raw, _, _ = strings.Cut(raw, "&")
			l.addSecret(raw)
		}
	}
}

// rawPassword returns the password of a URL's user info as it is written in
// the URL, percent-escapes and all, or "".
func rawPassword(state string) string {
	_, rest, ok := strings.Cut(state, "://")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return ""
	}
	_, pw, ok := strings.Cut(rest[:at], ":")
	if !ok {
		return ""
	}
	return pw
}

// lease reads the optional lease key: how long an instance holds a source or
// a target without renewing it. It only matters with a postgres state: a
// stopped instance's work moves to another within one sync interval plus the
// lease.
func (l *loader) lease(m map[string]entry, state string) time.Duration {
	return l.optionalDuration(m, "lease", sharing.DefaultLeaseTTL, func(n *yaml.Node, s string, d time.Duration, err error) bool {
		switch {
		case err != nil || d < time.Second:
			l.errorf(n, "lease", "%q is not a duration of a second or more; write e.g. 30s (the default) or 2m", s)
			return false
		case !isPostgres(state):
			l.warnf(n, "lease", "only applies to a postgres:// state shared by several instances; a state file has one instance")
		}
		return true
	})
}
