-- Virtual keys created through the admin API, budget overrides and their revision, as in
-- the SQLite ledger: every replica reads them from here.
CREATE TABLE virtual_keys (
	id               TEXT    PRIMARY KEY,
	tenant           TEXT    NOT NULL,
	hash             TEXT    NOT NULL UNIQUE,
	hint             TEXT    NOT NULL,
	allowed_models   TEXT    NOT NULL,
	max_priority     INTEGER NOT NULL,
	require_session  INTEGER NOT NULL,
	budget_micro_usd BIGINT  NOT NULL,
	budget_window    TEXT    NOT NULL,
	note             TEXT    NOT NULL,
	created_ns       BIGINT  NOT NULL,
	revoked_ns       BIGINT  NOT NULL,
	updated_ns       BIGINT  NOT NULL
);

CREATE TABLE budget_overrides (
	quota_key   TEXT   PRIMARY KEY,
	rule        TEXT   NOT NULL,
	scope       TEXT   NOT NULL,
	limit_value BIGINT NOT NULL,
	note        TEXT   NOT NULL,
	updated_ns  BIGINT NOT NULL
);

-- Every change raises rev in its transaction; the row lock orders concurrent changes.
CREATE TABLE settings_revision (
	id  INTEGER PRIMARY KEY CHECK (id = 1),
	rev BIGINT  NOT NULL
);
INSERT INTO settings_revision (id, rev) VALUES (1, 0);
