-- The first schema, for MySQL 5.7 or later and MariaDB 10.2 or later
-- (InnoDB, DYNAMIC rows: index keys of up to 3072 bytes). Timestamps are
-- Unix milliseconds (BIGINT). Text is VARBINARY or BLOB, so that it compares
-- byte-wise and case-sensitively, with no trailing-space padding and no
-- character set conversion; the lengths leave every index key under 3072
-- bytes. Flags are TINYINT 0 or 1. The categories and roles of the original
-- server are seeded by the store right after this migration.
--
-- MySQL commits every DDL statement on its own, so each statement here must
-- be safe to run again: a migration cut short runs again from the start.
--
-- Unlike the other dialects, nothing but the store keeps an SDB to one
-- owner row: MySQL has no partial unique index.

CREATE TABLE IF NOT EXISTS categories (
	id VARBINARY(64) NOT NULL,
	display_name VARBINARY(1024) NOT NULL,
	path VARBINARY(1024) NOT NULL,
	created_by VARBINARY(2048) NOT NULL,
	last_updated_by VARBINARY(2048) NOT NULL,
	created_ts BIGINT NOT NULL,
	last_updated_ts BIGINT NOT NULL,
	PRIMARY KEY (id),
	UNIQUE KEY categories_display_name (display_name),
	UNIQUE KEY categories_path (path)
) ENGINE = InnoDB ROW_FORMAT = DYNAMIC;

CREATE TABLE IF NOT EXISTS roles (
	id VARBINARY(64) NOT NULL,
	name VARBINARY(1024) NOT NULL,
	created_by VARBINARY(2048) NOT NULL,
	last_updated_by VARBINARY(2048) NOT NULL,
	created_ts BIGINT NOT NULL,
	last_updated_ts BIGINT NOT NULL,
	PRIMARY KEY (id),
	UNIQUE KEY roles_name (name)
) ENGINE = InnoDB ROW_FORMAT = DYNAMIC;

-- Slugs are unique across categories, as in the original server.
CREATE TABLE IF NOT EXISTS sdbs (
	id VARBINARY(64) NOT NULL,
	category_id VARBINARY(64) NOT NULL,
	name VARBINARY(1024) NOT NULL,
	slug VARBINARY(1024) NOT NULL,
	description BLOB,
	path VARBINARY(1024) NOT NULL,
	created_by VARBINARY(2048) NOT NULL,
	last_updated_by VARBINARY(2048) NOT NULL,
	created_ts BIGINT NOT NULL,
	last_updated_ts BIGINT NOT NULL,
	PRIMARY KEY (id),
	UNIQUE KEY sdbs_name (name),
	UNIQUE KEY sdbs_slug (slug),
	UNIQUE KEY sdbs_path (path),
	FOREIGN KEY (category_id) REFERENCES categories (id)
) ENGINE = InnoDB ROW_FORMAT = DYNAMIC;

-- The owner of an SDB is the one row with is_owner = 1 (and the owner role).
CREATE TABLE IF NOT EXISTS user_group_permissions (
	id VARBINARY(64) NOT NULL,
	sdb_id VARBINARY(64) NOT NULL,
	group_name VARBINARY(1024) NOT NULL,
	role_id VARBINARY(64) NOT NULL,
	is_owner TINYINT NOT NULL DEFAULT 0 CHECK (is_owner IN (0, 1)),
	created_by VARBINARY(2048) NOT NULL,
	last_updated_by VARBINARY(2048) NOT NULL,
	created_ts BIGINT NOT NULL,
	last_updated_ts BIGINT NOT NULL,
	PRIMARY KEY (id),
	UNIQUE KEY user_group_permissions_sdb_id_group_name (sdb_id, group_name),
	KEY user_group_permissions_group_name (group_name),
	FOREIGN KEY (sdb_id) REFERENCES sdbs (id) ON DELETE CASCADE,
	FOREIGN KEY (role_id) REFERENCES roles (id)
) ENGINE = InnoDB ROW_FORMAT = DYNAMIC;

CREATE TABLE IF NOT EXISTS iam_principal_permissions (
	id VARBINARY(64) NOT NULL,
	sdb_id VARBINARY(64) NOT NULL,
	arn VARBINARY(2048) NOT NULL,
	role_id VARBINARY(64) NOT NULL,
	created_by VARBINARY(2048) NOT NULL,
	last_updated_by VARBINARY(2048) NOT NULL,
	created_ts BIGINT NOT NULL,
	last_updated_ts BIGINT NOT NULL,
	PRIMARY KEY (id),
	UNIQUE KEY iam_principal_permissions_sdb_id_arn (sdb_id, arn),
	KEY iam_principal_permissions_arn (arn),
	FOREIGN KEY (sdb_id) REFERENCES sdbs (id) ON DELETE CASCADE,
	FOREIGN KEY (role_id) REFERENCES roles (id)
) ENGINE = InnoDB ROW_FORMAT = DYNAMIC;

-- The current value at each path. A ciphertext is at most 4 GiB (LONGBLOB);
-- how large a value one statement can carry is limited by the server's
-- max_allowed_packet.
CREATE TABLE IF NOT EXISTS secrets (
	sdb_id VARBINARY(64) NOT NULL,
	path VARBINARY(1024) NOT NULL,
	kind VARBINARY(16) NOT NULL CHECK (kind IN ('OBJECT', 'FILE')),
	version BIGINT NOT NULL CHECK (version > 0),
	ciphertext LONGBLOB NOT NULL,
	size_bytes INT NOT NULL,
	created_by VARBINARY(2048) NOT NULL,
	last_updated_by VARBINARY(2048) NOT NULL,
	created_ts BIGINT NOT NULL,
	last_updated_ts BIGINT NOT NULL,
	PRIMARY KEY (sdb_id, path),
	FOREIGN KEY (sdb_id) REFERENCES sdbs (id) ON DELETE CASCADE
) ENGINE = InnoDB ROW_FORMAT = DYNAMIC;

-- Values that were replaced or deleted, with who did it and when; seq is
-- the order in which they were archived.
CREATE TABLE IF NOT EXISTS secret_versions (
	id VARBINARY(64) NOT NULL,
	seq BIGINT NOT NULL AUTO_INCREMENT,
	sdb_id VARBINARY(64) NOT NULL,
	path VARBINARY(1024) NOT NULL,
	kind VARBINARY(16) NOT NULL CHECK (kind IN ('OBJECT', 'FILE')),
	version BIGINT NOT NULL,
	ciphertext LONGBLOB NOT NULL,
	size_bytes INT NOT NULL,
	action VARBINARY(16) NOT NULL CHECK (action IN ('CREATE', 'UPDATE', 'DELETE')),
	version_created_by VARBINARY(2048) NOT NULL,
	version_created_ts BIGINT NOT NULL,
	action_principal VARBINARY(2048) NOT NULL,
	action_ts BIGINT NOT NULL,
	PRIMARY KEY (id),
	UNIQUE KEY secret_versions_seq (seq),
	KEY secret_versions_sdb_id_path_seq (sdb_id, path, seq),
	FOREIGN KEY (sdb_id) REFERENCES sdbs (id) ON DELETE CASCADE
) ENGINE = InnoDB ROW_FORMAT = DYNAMIC;

-- Local users. group_names is a JSON array of strings; totp_secret is the
-- sealed TOTP seed, NULL without a second factor.
CREATE TABLE IF NOT EXISTS users (
	id VARBINARY(64) NOT NULL,
	name VARBINARY(1024) NOT NULL,
	password_hash VARBINARY(1024) NOT NULL,
	group_names MEDIUMBLOB NOT NULL,
	totp_secret BLOB,
	totp_last_counter BIGINT NOT NULL DEFAULT 0,
	created_ts BIGINT NOT NULL,
	updated_ts BIGINT NOT NULL,
	PRIMARY KEY (id),
	UNIQUE KEY users_name (name)
) ENGINE = InnoDB ROW_FORMAT = DYNAMIC;

-- Tokens, by keyed hash only. group_names is a JSON array of strings.
CREATE TABLE IF NOT EXISTS tokens (
	id VARBINARY(64) NOT NULL,
	hash VARBINARY(255) NOT NULL,
	principal_type VARBINARY(32) NOT NULL,
	principal VARBINARY(2048) NOT NULL,
	group_names MEDIUMBLOB NOT NULL,
	is_admin TINYINT NOT NULL CHECK (is_admin IN (0, 1)),
	refresh_count INT NOT NULL,
	created_ts BIGINT NOT NULL,
	expires_ts BIGINT NOT NULL,
	PRIMARY KEY (id),
	UNIQUE KEY tokens_hash (hash),
	KEY tokens_expires_ts (expires_ts),
	KEY tokens_principal (principal_type, principal)
) ENGINE = InnoDB ROW_FORMAT = DYNAMIC;

-- Server keys, sealed by the envelope.
CREATE TABLE IF NOT EXISTS server_keys (
	name VARBINARY(255) NOT NULL,
	sealed BLOB NOT NULL,
	created_ts BIGINT NOT NULL,
	PRIMARY KEY (name)
) ENGINE = InnoDB ROW_FORMAT = DYNAMIC;
