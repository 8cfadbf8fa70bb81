-- The first schema. Timestamps are Unix milliseconds; text compares
-- byte-wise (SQLite's BINARY collation). The categories and roles of the
-- original server are seeded by the store right after this migration.

CREATE TABLE categories (
	id TEXT NOT NULL PRIMARY KEY,
	display_name TEXT NOT NULL UNIQUE,
	path TEXT NOT NULL UNIQUE,
	created_by TEXT NOT NULL,
	last_updated_by TEXT NOT NULL,
	created_ts INTEGER NOT NULL,
	last_updated_ts INTEGER NOT NULL
) STRICT;

CREATE TABLE roles (
	id TEXT NOT NULL PRIMARY KEY,
	name TEXT NOT NULL UNIQUE,
	created_by TEXT NOT NULL,
	last_updated_by TEXT NOT NULL,
	created_ts INTEGER NOT NULL,
	last_updated_ts INTEGER NOT NULL
) STRICT;

CREATE TABLE sdbs (
	id TEXT NOT NULL PRIMARY KEY,
	category_id TEXT NOT NULL REFERENCES categories (id),
	name TEXT NOT NULL UNIQUE,
	-- Slugs are unique across categories, as in the original server.
	slug TEXT NOT NULL UNIQUE,
	description TEXT,
	path TEXT NOT NULL UNIQUE,
	created_by TEXT NOT NULL,
	last_updated_by TEXT NOT NULL,
	created_ts INTEGER NOT NULL,
	last_updated_ts INTEGER NOT NULL
) STRICT;

-- The owner of an SDB is the one row with is_owner = 1 (and the owner role).
CREATE TABLE user_group_permissions (
	id TEXT NOT NULL PRIMARY KEY,
	sdb_id TEXT NOT NULL REFERENCES sdbs (id) ON DELETE CASCADE,
	group_name TEXT NOT NULL,
	role_id TEXT NOT NULL REFERENCES roles (id),
	is_owner INTEGER NOT NULL DEFAULT 0 CHECK (is_owner IN (0, 1)),
	created_by TEXT NOT NULL,
	last_updated_by TEXT NOT NULL,
	created_ts INTEGER NOT NULL,
	last_updated_ts INTEGER NOT NULL,
	UNIQUE (sdb_id, group_name)
) STRICT;

CREATE UNIQUE INDEX user_group_permissions_owner ON user_group_permissions (sdb_id) WHERE is_owner = 1;
CREATE INDEX user_group_permissions_group_name ON user_group_permissions (group_name);

CREATE TABLE iam_principal_permissions (
	id TEXT NOT NULL PRIMARY KEY,
	sdb_id TEXT NOT NULL REFERENCES sdbs (id) ON DELETE CASCADE,
	arn TEXT NOT NULL,
	role_id TEXT NOT NULL REFERENCES roles (id),
	created_by TEXT NOT NULL,
	last_updated_by TEXT NOT NULL,
	created_ts INTEGER NOT NULL,
	last_updated_ts INTEGER NOT NULL,
	UNIQUE (sdb_id, arn)
) STRICT;

CREATE INDEX iam_principal_permissions_arn ON iam_principal_permissions (arn);

-- The current value at each path.
CREATE TABLE secrets (
	sdb_id TEXT NOT NULL REFERENCES sdbs (id) ON DELETE CASCADE,
	path TEXT NOT NULL,
	kind TEXT NOT NULL CHECK (kind IN ('OBJECT', 'FILE')),
	version INTEGER NOT NULL CHECK (version > 0),
	ciphertext BLOB NOT NULL,
	size_bytes INTEGER NOT NULL,
	created_by TEXT NOT NULL,
	last_updated_by TEXT NOT NULL,
	created_ts INTEGER NOT NULL,
	last_updated_ts INTEGER NOT NULL,
	PRIMARY KEY (sdb_id, path)
) STRICT;

-- Values that were replaced or deleted, with who did it and when.
CREATE TABLE secret_versions (
	id TEXT NOT NULL PRIMARY KEY,
	sdb_id TEXT NOT NULL REFERENCES sdbs (id) ON DELETE CASCADE,
	path TEXT NOT NULL,
	kind TEXT NOT NULL CHECK (kind IN ('OBJECT', 'FILE')),
	version INTEGER NOT NULL,
	ciphertext BLOB NOT NULL,
	size_bytes INTEGER NOT NULL,
	action TEXT NOT NULL CHECK (action IN ('CREATE', 'UPDATE', 'DELETE')),
	version_created_by TEXT NOT NULL,
	version_created_ts INTEGER NOT NULL,
	action_principal TEXT NOT NULL,
	action_ts INTEGER NOT NULL
) STRICT;

CREATE INDEX secret_versions_sdb_id_path_version ON secret_versions (sdb_id, path, version);

-- Local users. group_names is a JSON array of strings; totp_secret is the
-- sealed TOTP seed, NULL without a second factor.
CREATE TABLE users (
	id TEXT NOT NULL PRIMARY KEY,
	name TEXT NOT NULL UNIQUE,
	password_hash TEXT NOT NULL,
	group_names TEXT NOT NULL,
	totp_secret BLOB,
	totp_last_counter INTEGER NOT NULL DEFAULT 0,
	created_ts INTEGER NOT NULL,
	updated_ts INTEGER NOT NULL
) STRICT;

-- Tokens, by keyed hash only. group_names is a JSON array of strings.
CREATE TABLE tokens (
	id TEXT NOT NULL PRIMARY KEY,
	hash BLOB NOT NULL UNIQUE,
	principal_type TEXT NOT NULL,
	principal TEXT NOT NULL,
	group_names TEXT NOT NULL,
	is_admin INTEGER NOT NULL CHECK (is_admin IN (0, 1)),
	refresh_count INTEGER NOT NULL,
	created_ts INTEGER NOT NULL,
	expires_ts INTEGER NOT NULL
) STRICT;

CREATE INDEX tokens_expires_ts ON tokens (expires_ts);
CREATE INDEX tokens_principal ON tokens (principal_type, principal);

-- Server keys, sealed by the envelope.
CREATE TABLE server_keys (
	name TEXT NOT NULL PRIMARY KEY,
	sealed BLOB NOT NULL,
	created_ts INTEGER NOT NULL
) STRICT;
