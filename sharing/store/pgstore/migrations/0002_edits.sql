-- Version 2: change numbers per source (sharing.Tx.Version), operators' marks,
-- and the run state's skip fields.

CREATE TABLE cte_versions (
	source  text COLLATE "C" PRIMARY KEY,
	version bigint NOT NULL
);

CREATE TABLE cte_marks (
	value  text COLLATE "C" PRIMARY KEY,
	type   smallint NOT NULL,
	kind   smallint NOT NULL, -- 1 safe, 2 deleted
	reason text NOT NULL,
	at     timestamptz,
	ns     bigint NOT NULL -- at
);

ALTER TABLE cte_runs
	ADD COLUMN inputs text NOT NULL DEFAULT '',
	ADD COLUMN until timestamptz; -- its nanoseconds are the third in ns
