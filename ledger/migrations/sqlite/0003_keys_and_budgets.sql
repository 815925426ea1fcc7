-- Settings an operator changes at run time through the admin API, kept here so that they
-- survive restarts (and, on PostgreSQL, every replica reads them).
--
-- Virtual keys created through the API. Only the SHA-256 of a secret is stored (hash, 64 hex
-- digits); hint is the secret's first characters, for an operator to tell keys apart. A
-- revoked key keeps its row (revoked_ns > 0) so that its id is never reused and the ledger's
-- usage rows still name a known key. allowed_models is a JSON array; [] allows every model.
-- budget_micro_usd 0 means no budget of the key's own; budget_window is day, month or
-- lifetime.
CREATE TABLE virtual_keys (
	id               TEXT    PRIMARY KEY,
	tenant           TEXT    NOT NULL,
	hash             TEXT    NOT NULL UNIQUE,
	hint             TEXT    NOT NULL,
	allowed_models   TEXT    NOT NULL,
	max_priority     INTEGER NOT NULL,
	require_session  INTEGER NOT NULL,
	budget_micro_usd INTEGER NOT NULL,
	budget_window    TEXT    NOT NULL,
	note             TEXT    NOT NULL,
	created_ns       INTEGER NOT NULL,
	revoked_ns       INTEGER NOT NULL,
	updated_ns       INTEGER NOT NULL
);

-- Limits that replace a budget rule's for one instance of its scope: quota_key is the
-- quota's key (the rule's name and the scope's values), rule and scope say the same in parts.
CREATE TABLE budget_overrides (
	quota_key   TEXT    PRIMARY KEY,
	rule        TEXT    NOT NULL,
	scope       TEXT    NOT NULL,
	limit_value INTEGER NOT NULL,
	note        TEXT    NOT NULL,
	updated_ns  INTEGER NOT NULL
);

-- One row whose rev every change to the two tables above raises in the same transaction:
-- a replica polls it and reloads the settings only when it moved.
CREATE TABLE settings_revision (
	id  INTEGER PRIMARY KEY CHECK (id = 1),
	rev INTEGER NOT NULL
);
INSERT INTO settings_revision (id, rev) VALUES (1, 0);
