package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ctexchange/cte/sharing"
)

// Acquire implements sharing.Leaser with one statement on cte_leases, by the
// database's clock: it takes a free or expired lease (with a new token) or
// renews holder's own (keeping the token).
func (s *Store) Acquire(ctx context.Context, name, holder string, ttl time.Duration) (sharing.Lease, bool, error) {
	if name == "" || holder == "" || ttl <= 0 {
		return sharing.Lease{}, false, fmt.Errorf("pgstore: acquire lease %q for %q for %s: name, holder and a positive time are needed", name, holder, ttl)
	}
	l := sharing.Lease{Name: name, Holder: holder}
	err := s.pool.QueryRow(ctx, `INSERT INTO cte_leases AS l (name, holder, token, expires_at)
		VALUES ($1, $2, 1, clock_timestamp() + $3 * interval '1 microsecond')
		ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at,
			token = CASE WHEN l.holder = EXCLUDED.holder AND l.expires_at > clock_timestamp() THEN l.token ELSE l.token + 1 END
		WHERE l.holder = EXCLUDED.holder OR l.expires_at <= clock_timestamp()
		RETURNING token, expires_at`, name, holder, ttl.Microseconds()).Scan(&l.Token, &l.Expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return sharing.Lease{}, false, nil
	}
	if err != nil {
		return sharing.Lease{}, false, fmt.Errorf("pgstore: acquire lease %s: %w", name, err)
	}
	l.Expires = l.Expires.UTC()
	return l, true, nil
}

// Release implements sharing.Leaser: the lease expires now, keeping its token,
// so the next holder gets a greater one.
func (s *Store) Release(ctx context.Context, l sharing.Lease) error {
	_, err := s.pool.Exec(ctx, `UPDATE cte_leases SET expires_at = clock_timestamp()
		WHERE name = $1 AND holder = $2 AND token = $3 AND expires_at > clock_timestamp()`, l.Name, l.Holder, l.Token)
	if err != nil {
		return fmt.Errorf("pgstore: release lease %s: %w", l.Name, err)
	}
	return nil
}

// Leases implements sharing.Leaser.
func (s *Store) Leases(ctx context.Context, prefix string) ([]sharing.Lease, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, holder, token, expires_at FROM cte_leases
		WHERE starts_with(name, $1) AND expires_at > clock_timestamp() ORDER BY name`, prefix)
	if err != nil {
		return nil, fmt.Errorf("pgstore: list leases: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (sharing.Lease, error) {
		var l sharing.Lease
		err := r.Scan(&l.Name, &l.Holder, &l.Token, &l.Expires)
		l.Expires = l.Expires.UTC()
		return l, err
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: list leases: %w", err)
	}
	return out, nil
}
