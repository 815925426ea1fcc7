-- Request ids: the fleet-wide id is looked up by `tollgate usage --request`, and so is the
-- provider's own id of a call (only rows that have one are indexed). hold_id names the hold
-- a record settled, or the orphaned hold it charged.
ALTER TABLE usage ADD COLUMN upstream_request_id TEXT NOT NULL DEFAULT '';
ALTER TABLE usage ADD COLUMN hold_id TEXT NOT NULL DEFAULT '';
CREATE INDEX usage_request ON usage (request_id);
CREATE INDEX usage_upstream_request ON usage (upstream_request_id) WHERE upstream_request_id <> '';

-- Holds: the worst case of each reserved attempt whose upstream call may be under way. A
-- row exists from the hold's open to its settle or release; one left behind by a process
-- that died is charged at its worst case into usage and deleted, in one transaction.
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
	input_tokens  INTEGER NOT NULL,
	output_tokens INTEGER NOT NULL,
	micro_usd     INTEGER NOT NULL,
	opened_ns     INTEGER NOT NULL
);
CREATE INDEX holds_owner ON holds (owner);
