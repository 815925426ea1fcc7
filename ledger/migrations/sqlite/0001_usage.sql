-- The usage table: one row per settled attempt. ts is unix nanoseconds UTC; days are
-- computed in Go so that any zone, DST included, groups correctly. The indexes serve the
-- restore at start (a time range, grouped) and `tollgate usage` filtered by tenant,
-- session or agent.
CREATE TABLE usage (
	id                  INTEGER PRIMARY KEY,
	ts                  INTEGER NOT NULL,
	request_id          TEXT    NOT NULL,
	tenant              TEXT    NOT NULL,
	key_id              TEXT    NOT NULL,
	agent               TEXT    NOT NULL,
	session             TEXT    NOT NULL,
	route               TEXT    NOT NULL,
	provider            TEXT    NOT NULL,
	model               TEXT    NOT NULL,
	input_tokens        INTEGER NOT NULL,
	cached_input_tokens INTEGER NOT NULL,
	output_tokens       INTEGER NOT NULL,
	micro_usd           INTEGER NOT NULL,
	outcome             TEXT    NOT NULL,
	fallback_reason     TEXT    NOT NULL,
	latency_ns          INTEGER NOT NULL,
	attempt             INTEGER NOT NULL
);
CREATE INDEX usage_ts ON usage (ts);
CREATE INDEX usage_tenant_ts ON usage (tenant, ts);
CREATE INDEX usage_session_ts ON usage (session, ts);
CREATE INDEX usage_agent_ts ON usage (agent, ts);
