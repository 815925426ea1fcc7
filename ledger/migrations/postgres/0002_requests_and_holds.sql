-- Request ids, as in the SQLite ledger.
ALTER TABLE usage ADD COLUMN upstream_request_id TEXT NOT NULL DEFAULT '';
ALTER TABLE usage ADD COLUMN hold_id TEXT NOT NULL DEFAULT '';
CREATE INDEX usage_request ON usage (request_id);
CREATE INDEX usage_upstream_request ON usage (upstream_request_id) WHERE upstream_request_id <> '';

-- Holds, as in the SQLite ledger; owner is an instance below.
CREATE TABLE holds (
	id            TEXT    PRIMARY KEY,
	request_id    TEXT    NOT NULL,
	owner         TEXT    NOT NULL,
	tenant        TEXT    NOT NULL,
	key_id        TEXT    NOT NULL,
	agent         TEXT    NOT NULL,
	session       TEXT    NOT NULL,
	route         TEXT    NOT NULL,
	provider      TEXT    NOT NULL,
	model         TEXT    NOT NULL,
	attempt       INTEGER NOT NULL,
	input_tokens  BIGINT  NOT NULL,
	output_tokens BIGINT  NOT NULL,
	micro_usd     BIGINT  NOT NULL,
	opened_ns     BIGINT  NOT NULL
);
CREATE INDEX holds_owner ON holds (owner);

-- Instances: the processes writing this ledger, each alive until expires_at, which its
-- heartbeat pushes forward. The holds of an instance past expires_at are charged by
-- whichever replica recovers first.
CREATE TABLE instances (
	id         TEXT        PRIMARY KEY,
	started_at TIMESTAMPTZ NOT NULL,
	expires_at TIMESTAMPTZ NOT NULL
);
