-- cte state schema, version 1. Every table is prefixed cte_ so the schema can
-- live beside others. Times are timestamptz (microseconds, NULL for "none");
-- the ns column of a table keeps the nanoseconds under the microsecond of each
-- of its times (10 bits per time, in column order), so Go times come back
-- exactly. Text keys use the "C" collation: byte order, as Go sorts strings.

CREATE TABLE cte_entries (
	value       text COLLATE "C" NOT NULL,
	source      text COLLATE "C" NOT NULL,
	rec_type    smallint NOT NULL, -- the type the value was first stored with
	type        smallint NOT NULL,
	severity    smallint NOT NULL,
	reputation  integer NOT NULL,
	comments    text NOT NULL,
	tags        text[],
	first_seen  timestamptz,
	last_seen   timestamptz,
	expires_at  timestamptz,
	inactive    boolean NOT NULL,
	inactive_at timestamptz,
	stored_at   timestamptz,
	ns          bigint NOT NULL, -- first_seen, last_seen, expires_at, inactive_at, stored_at
	PRIMARY KEY (value, source)
);

CREATE TABLE cte_checkpoints (
	source     text COLLATE "C" PRIMARY KEY,
	checkpoint bytea NOT NULL
);

CREATE TABLE cte_ledger (
	config       text COLLATE "C" NOT NULL,
	value        text COLLATE "C" NOT NULL,
	type         smallint NOT NULL,
	state        smallint NOT NULL, -- 1 applied, 2 rejected, 3 retryable, 4 retracted, 5 over capacity
	fingerprint  bigint NOT NULL,
	reason       text NOT NULL,
	code         text NOT NULL,
	attempts     integer NOT NULL,
	next_attempt timestamptz,
	at           timestamptz,
	ns           bigint NOT NULL, -- next_attempt, at
	PRIMARY KEY (config, value)
);

CREATE TABLE cte_applied (
	config text COLLATE "C" PRIMARY KEY,
	digest text NOT NULL,
	count  integer NOT NULL,
	at     timestamptz,
	target text NOT NULL,
	ns     bigint NOT NULL -- at
);

CREATE TABLE cte_audit (
	seq        bigserial PRIMARY KEY,
	time       timestamptz,
	level      integer NOT NULL,
	config     text NOT NULL,
	message    text NOT NULL,
	details    jsonb,
	resolution text NOT NULL,
	ns         bigint NOT NULL -- time
);
CREATE INDEX cte_audit_config ON cte_audit (config, seq);

CREATE TABLE cte_runs (
	name       text COLLATE "C" PRIMARY KEY,
	last_run   timestamptz,
	last_ok    timestamptz,
	last_error text NOT NULL,
	counts     jsonb,
	ns         bigint NOT NULL -- last_run, last_ok
);

-- Leases let several cte instances share the work: a row per source or
-- target, held by one instance until expires_at (by the database's clock).
-- token increases whenever the lease changes hands or is taken again after
-- it expired; a write carrying an older token is refused (fencing).
CREATE TABLE cte_leases (
	name       text COLLATE "C" PRIMARY KEY,
	holder     text NOT NULL,
	token      bigint NOT NULL,
	expires_at timestamptz NOT NULL
);
