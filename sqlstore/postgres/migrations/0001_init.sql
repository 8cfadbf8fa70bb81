-- The first schema. Timestamps are Unix milliseconds (BIGINT). Text compares
-- byte-wise (COLLATE "C"); secret paths are BYTEA, because a path may hold
-- any bytes and PostgreSQL text holds UTF-8 only. Flags are SMALLINT 0 or 1,
-- as in the other dialects, so that the shared SQL can compare them with
-- numbers. The categories and roles of the original server are seeded by
-- the store right after this migration.

CREATE TABLE categories (
	id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	display_name TEXT COLLATE "C" NOT NULL UNIQUE,
	path TEXT COLLATE "C" NOT NULL UNIQUE,
	created_by TEXT COLLATE "C" NOT NULL,
	last_updated_by TEXT COLLATE "C" NOT NULL,
	created_ts BIGINT NOT NULL,
	last_updated_ts BIGINT NOT NULL
);

CREATE TABLE roles (
	id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	name TEXT COLLATE "C" NOT NULL UNIQUE,
	created_by TEXT COLLATE "C" NOT NULL,
	last_updated_by TEXT COLLATE "C" NOT NULL,
	created_ts BIGINT NOT NULL,
	last_updated_ts BIGINT NOT NULL
);

CREATE TABLE sdbs (
	id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	category_id TEXT COLLATE "C" NOT NULL REFERENCES categories (id),
	name TEXT COLLATE "C" NOT NULL UNIQUE,
	-- Slugs are unique across categories, as in the original server.
	slug TEXT COLLATE "C" NOT NULL UNIQUE,
	description TEXT COLLATE "C",
	path TEXT COLLATE "C" NOT NULL UNIQUE,
	created_by TEXT COLLATE "C" NOT NULL,
	last_updated_by TEXT COLLATE "C" NOT NULL,
	created_ts BIGINT NOT NULL,
	last_updated_ts BIGINT NOT NULL
);

-- The owner of an SDB is the one row with is_owner = 1 (and the owner role).
CREATE TABLE user_group_permissions (
	id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	sdb_id TEXT COLLATE "C" NOT NULL REFERENCES sdbs (id) ON DELETE CASCADE,
	group_name TEXT COLLATE "C" NOT NULL,
	role_id TEXT COLLATE "C" NOT NULL REFERENCES roles (id),
	is_owner SMALLINT NOT NULL DEFAULT 0 CHECK (is_owner IN (0, 1)),
	created_by TEXT COLLATE "C" NOT NULL,
	last_updated_by TEXT COLLATE "C" NOT NULL,
	created_ts BIGINT NOT NULL,
	last_updated_ts BIGINT NOT NULL,
	UNIQUE (sdb_id, group_name)
);

CREATE UNIQUE INDEX user_group_permissions_owner ON user_group_permissions (sdb_id) WHERE is_owner = 1;
CREATE INDEX user_group_permissions_group_name ON user_group_permissions (group_name);

CREATE TABLE iam_principal_permissions (
	id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	sdb_id TEXT COLLATE "C" NOT NULL REFERENCES sdbs (id) ON DELETE CASCADE,
	arn TEXT COLLATE "C" NOT NULL,
	role_id TEXT COLLATE "C" NOT NULL REFERENCES roles (id),
	created_by TEXT COLLATE "C" NOT NULL,
	last_updated_by TEXT COLLATE "C" NOT NULL,
	created_ts BIGINT NOT NULL,
	last_updated_ts BIGINT NOT NULL,
	UNIQUE (sdb_id, arn)
);

CREATE INDEX iam_principal_permissions_arn ON iam_principal_permissions (arn);

-- The current value at each path.
CREATE TABLE secrets (
	sdb_id TEXT COLLATE "C" NOT NULL REFERENCES sdbs (id) ON DELETE CASCADE,
	path BYTEA NOT NULL,
	kind TEXT COLLATE "C" NOT NULL CHECK (kind IN ('OBJECT', 'FILE')),
	version BIGINT NOT NULL CHECK (version > 0),
	ciphertext BYTEA NOT NULL,
	size_bytes INTEGER NOT NULL,
	created_by TEXT COLLATE "C" NOT NULL,
	last_updated_by TEXT COLLATE "C" NOT NULL,
	created_ts BIGINT NOT NULL,
	last_updated_ts BIGINT NOT NULL,
	PRIMARY KEY (sdb_id, path)
);

-- Values that were replaced or deleted, with who did it and when; seq is
-- the order in which they were archived.
CREATE TABLE secret_versions (
	id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	seq BIGINT GENERATED ALWAYS AS IDENTITY,
	sdb_id TEXT COLLATE "C" NOT NULL REFERENCES sdbs (id) ON DELETE CASCADE,
	path BYTEA NOT NULL,
	kind TEXT COLLATE "C" NOT NULL CHECK (kind IN ('OBJECT', 'FILE')),
	version BIGINT NOT NULL,
	ciphertext BYTEA NOT NULL,
	size_bytes INTEGER NOT NULL,
	action TEXT COLLATE "C" NOT NULL CHECK (action IN ('CREATE', 'UPDATE', 'DELETE')),
	version_created_by TEXT COLLATE "C" NOT NULL,
	version_created_ts BIGINT NOT NULL,
	action_principal TEXT COLLATE "C" NOT NULL,
	action_ts BIGINT NOT NULL
);

CREATE INDEX secret_versions_sdb_id_path_seq ON secret_versions (sdb_id, path, seq);

-- Local users. group_names is a JSON array of strings; totp_secret is the
-- sealed TOTP seed, NULL without a second factor.
CREATE TABLE users (
	id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	name TEXT COLLATE "C" NOT NULL UNIQUE,
	password_hash TEXT COLLATE "C" NOT NULL,
	group_names TEXT COLLATE "C" NOT NULL,
	totp_secret BYTEA,
	totp_last_counter BIGINT NOT NULL DEFAULT 0,
	created_ts BIGINT NOT NULL,
	updated_ts BIGINT NOT NULL
);

-- Tokens, by keyed hash only. group_names is a JSON array of strings.
CREATE TABLE tokens (
	id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	hash BYTEA NOT NULL UNIQUE,
	principal_type TEXT COLLATE "C" NOT NULL,
	principal TEXT COLLATE "C" NOT NULL,
	group_names TEXT COLLATE "C" NOT NULL,
	is_admin SMALLINT NOT NULL CHECK (is_admin IN (0, 1)),
	refresh_count INTEGER NOT NULL,
	created_ts BIGINT NOT NULL,
	expires_ts BIGINT NOT NULL
);

CREATE INDEX tokens_expires_ts ON tokens (expires_ts);
CREATE INDEX tokens_principal ON tokens (principal_type, principal);

-- Server keys, sealed by the envelope.
CREATE TABLE server_keys (
	name TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	sealed BYTEA NOT NULL,
	created_ts BIGINT NOT NULL
);
