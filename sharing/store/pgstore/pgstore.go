package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/internal/storeutil"
)

var (
	_ sharing.Store  = (*Store)(nil)
	_ sharing.Leaser = (*Store)(nil)
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// SchemaVersion is the newest schema version this package writes. Open refuses
// a database whose schema is newer.
var SchemaVersion = len(migrations())

// ErrNewerSchema is wrapped by Open's error for a database written by a newer cte.
var ErrNewerSchema = errors.New("pgstore: the database schema is newer than this cte")

// Advisory lock keys (the first of the two int4 keys; the second is a hash of
// the schema, so stores in different schemas of one database do not contend).
const (
	lockMigrate = 0x63746531 // "cte1"
	lockWrite   = 0x63746532 // "cte2"
)

// Store is a sharing.Store in a PostgreSQL database. It is safe for concurrent
// use, by several goroutines and several processes.
type Store struct {
	pool *pgxpool.Pool
	log  *slog.Logger
	bufs chan *mergeBufs // the working memory of the last Merge, for the next
}

// Option configures Open.
type Option func(*options)

type options struct {
	log      *slog.Logger
	maxConns int32
	stall    time.Duration
}

// DefaultStallTimeout is how long the database lets a session sit idle in a
// transaction before it ends it (idle_in_transaction_session_timeout): an
// instance paused or cut off in the middle of an Update holds the write
// lock, and every instance's writes waited for it, until TCP gave up (hours),
// while its leases had long expired. An Update does its work between
// statements in well under this.
const DefaultStallTimeout = time.Minute

// WithStallTimeout sets how long a session may sit idle in a transaction
// (DefaultStallTimeout without it, unless the connection string sets
// idle_in_transaction_session_timeout).
func WithStallTimeout(d time.Duration) Option {
	return func(o *options) { o.stall = d }
}

// WithLogger sets the logger for migrations; the default discards.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.log = l
		}
	}
}

// DefaultMaxConns is the default size of the connection pool: room for the
// syncs of several sources, the lease renewals (which must not wait behind
// them) and the readers of a console.
const DefaultMaxConns = 10

// WithMaxConns sets the size of the connection pool. Without it, the pool
// has pool_max_conns from the connection string, or DefaultMaxConns.
func WithMaxConns(n int32) Option {
	return func(o *options) { o.maxConns = n }
}

// Open connects to the database named by dsn (a postgres:// URL or a key=value
// connection string; the password may come from PGPASSWORD or ~/.pgpass, as
// with libpq), applies the migrations this version has and the database has
// not, in one transaction under an advisory lock, and returns the store. A
// database whose schema is newer than SchemaVersion is refused (ErrNewerSchema).
// A runtime parameter such as search_path=myschema in dsn chooses the schema.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	o := options{log: slog.New(slog.DiscardHandler), stall: DefaultStallTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors can quote the connection string, password included.
		return nil, errors.New("pgstore: the connection string is not valid: write postgres://user@host:5432/database?sslmode=require (password from PGPASSWORD)")
	}
	if !strings.Contains(dsn, "pool_max_conns") { // the URL's own setting wins
		cfg.MaxConns = DefaultMaxConns
	}
	if o.maxConns > 0 {
		cfg.MaxConns = o.maxConns
	}
	if _, set := cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"]; !set && o.stall > 0 {
		cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = strconv.FormatInt(o.stall.Milliseconds(), 10)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: connect to %s: %w", where(cfg), err)
	}
	s := &Store{pool: pool, log: o.log, bufs: make(chan *mergeBufs, 1)}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: %s: %w", where(cfg), err)
	}
	return s, nil
}

// where names a database without its password.
func where(cfg *pgxpool.Config) string {
	c := cfg.ConnConfig
	return fmt.Sprintf("database %q on %s:%d as user %q", c.Database, c.Host, c.Port, c.User)
}

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in version order; their file
// names start with the version (0001_init.sql), which must be 1, 2, 3...
func migrations() []migration {
	ents, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		panic(err)
	}
	var out []migration
	for _, e := range ents {
		v, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil || v != len(out)+1 {
			panic("pgstore: migration " + e.Name() + " is out of sequence")
		}
		b, err := migrationFS.ReadFile("migrations/" + e.Name())
		if err != nil {
			panic(err)
		}
		out = append(out, migration{v, e.Name(), string(b)})
	}
	return out
}

// migrate brings the schema up to SchemaVersion in one transaction under an
// advisory lock, so instances starting together apply each migration once.
func (s *Store) migrate(ctx context.Context) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))`, lockMigrate); err != nil {
			return fmt.Errorf("lock the schema for migration: %w", err)
		}
		// CREATE TABLE IF NOT EXISTS needs CREATE on the schema even when the
		// table exists: a user without it could not open a migrated database.
		var made bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_tables
			WHERE schemaname = current_schema() AND tablename = 'cte_schema')`).Scan(&made); err != nil {
			return fmt.Errorf("look for the schema version table: %w", err)
		}
		if !made {
			if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS cte_schema (
			version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
				return fmt.Errorf("create the schema version table: %w (grant CREATE on the schema to this user)", err)
			}
		}
		var have int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM cte_schema`).Scan(&have); err != nil {
			return fmt.Errorf("read the schema version: %w", err)
		}
		ms := migrations()
		if have > len(ms) {
			return fmt.Errorf("%w: it is at version %d and this cte knows up to %d; upgrade cte, or point state at another database",
				ErrNewerSchema, have, len(ms))
		}
		for _, m := range ms[have:] {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("apply migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO cte_schema (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
				return fmt.Errorf("record migration %s: %w", m.name, err)
			}
			s.log.Info("pgstore: applied migration", "migration", m.name)
		}
		return nil
	})
}

// Close closes the connections.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// View runs fn in a read-only transaction on a consistent snapshot (REPEATABLE
// READ), beside writers and other readers.
func (s *Store) View(ctx context.Context, fn func(sharing.Tx) error) (err error) {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pgstore: view: %w", err)
	}
	ptx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("pgstore: view: begin: %w", err)
	}
	t := &tx{s: s, ctx: ctx, pg: ptx}
	defer func() {
		t.done = true
		_ = ptx.Rollback(context.WithoutCancel(ctx))
	}()
	return fn(t)
}

// beginWrite starts a write transaction and takes the write lock.
var beginWrite = fmt.Sprintf(`BEGIN; SELECT pg_advisory_xact_lock(%d, hashtext(current_schema()))`, lockWrite)

// Update runs fn in a read-write transaction. Writers take a transaction-level
// advisory lock first, so one Update runs at a time across every process
// sharing the database, as in the embedded store. Before committing, it checks
// that every lease ctx carries (sharing.WithLeases) is still held with its
// token, and locks those lease rows until the commit; otherwise it rolls back
// with an error wrapping sharing.ErrLeaseLost.
func (s *Store) Update(ctx context.Context, fn func(sharing.Tx) error) (err error) {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pgstore: update: %w", err)
	}
	// BEGIN and the lock in one round trip. When the lock fails, the
	// connection is left in a failed transaction, which the pool closes.
	ptx, err := s.pool.BeginTx(ctx, pgx.TxOptions{BeginQuery: beginWrite})
	if err != nil {
		return fmt.Errorf("pgstore: update: begin and take the write lock: %w", err)
	}
	t := &tx{s: s, ctx: ctx, pg: ptx, write: true}
	committed := false
	defer func() {
		t.done = true
		if !committed {
			_ = ptx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if err := fn(t); err != nil {
		return err
	}
	t.done = true
	if err := s.fence(ctx, ptx); err != nil {
		return err
	}
	if err := ptx.Commit(ctx); err != nil {
		return fmt.Errorf("pgstore: commit: %w", err)
	}
	committed = true
	return nil
}

// fence checks the leases ctx carries, locking their rows against a takeover
// until the transaction ends.
func (s *Store) fence(ctx context.Context, ptx pgx.Tx) error {
	for _, l := range sharing.LeasesFrom(ctx) {
		var holder string
		var token int64
		var live bool
		err := ptx.QueryRow(ctx, `SELECT holder, token, expires_at > clock_timestamp() FROM cte_leases WHERE name = $1 FOR SHARE`,
			l.Name).Scan(&holder, &token, &live)
		if errors.Is(err, pgx.ErrNoRows) {
			holder = ""
		} else if err != nil {
			return fmt.Errorf("pgstore: check lease %s: %w", l.Name, err)
		}
		if holder != l.Holder || token != l.Token || !live {
			return fmt.Errorf("pgstore: write refused: lease %s of %s (token %d) has expired or moved to %q (token %d): %w",
				l.Name, l.Holder, l.Token, holder, token, sharing.ErrLeaseLost)
		}
	}
	return nil
}

// tx is one transaction.
type tx struct {
	s     *Store
	ctx   context.Context
	pg    pgx.Tx
	write bool
	done  bool
	temps []string // temporary tables created in this session

	// Ledger lookups of one configuration, after ledgerPrefetchAfter of them
	// in this transaction, are answered from its whole ledger read in one
	// query (a scan that checks each record's ledger entry would otherwise
	// cost a round trip per record). PutLedger keeps the copy current.
	ledgerLookups map[string]int
	ledgers       map[string]map[string]sharing.LedgerEntry

	ahead readAhead // Record lookups in ascending value order, in a View
}

// readable reports a tx used after its function returned.
func (t *tx) readable() error { return storeutil.Readable(t.done) }

// writable reports what readable does, and a write (op) in a read-only tx.
func (t *tx) writable(op string) error { return storeutil.Writable("pgstore", op, t.done, t.write) }

// cancelled returns the context's error, wrapped, when it has ended.
func (t *tx) cancelled(op string) error {
	if err := t.ctx.Err(); err != nil {
		return fmt.Errorf("pgstore: %s: %w", op, err)
	}
	return nil
}

// tempTable creates a temporary table like table, emptied at each commit, once
// per connection; it returns its name.
func (t *tx) tempTable(table string) (string, error) {
	name := table + "_in"
	if slices.Contains(t.temps, name) {
		return name, nil
	}
	_, err := t.pg.Exec(t.ctx, `CREATE TEMP TABLE IF NOT EXISTS `+name+` (LIKE `+table+` INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`)
	if err != nil {
		return "", fmt.Errorf("create temporary table %s: %w", name, err)
	}
	t.temps = append(t.temps, name)
	return name, nil
}
