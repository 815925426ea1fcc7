-- The usage table: one row per settled attempt, as in the SQLite ledger. ts is unix
-- nanoseconds UTC, so that both backends share their queries and group days in Go's zone
-- database; to_timestamp(ts / 1e9) reads it as a time.
CREATE TABLE usage (
	id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	ts                  BIGINT  NOT NULL,
	request_id          TEXT    NOT NULL,
	tenant              TEXT    NOT NULL,
	key_id              TEXT    NOT NULL,
	agent               TEXT    NOT NULL,
	session             TEXT    NOT NULL,
	route               TEXT    NOT NULL,
	provider            TEXT    NOT NULL,
	model               TEXT    NOT NULL,
	input_tokens        BIGINT  NOT NULL,
	cached_input_tokens BIGINT  NOT NULL,
	output_tokens       BIGINT  NOT NULL,
	micro_usd           BIGINT  NOT NULL,
	outcome             TEXT    NOT NULL,
	fallback_reason     TEXT    NOT NULL,
	latency_ns          BIGINT  NOT NULL,
	attempt             INTEGER NOT NULL
);
CREATE INDEX usage_ts ON usage (ts);
CREATE INDEX usage_tenant_ts ON usage (tenant, ts);
CREATE INDEX usage_session_ts ON usage (session, ts);
CREATE INDEX usage_agent_ts ON usage (agent, ts);
