-- Secret versions get seq, the order in which they were archived, so that a
-- path's history lists newest first even when a deleted path is written
-- again and its versions start over at 1. SQLite cannot add such a column
-- to a table, so the table is built again; the rows it holds are numbered
-- in the order they were written.

CREATE TABLE secret_versions_seq (
	seq INTEGER PRIMARY KEY,
	id TEXT NOT NULL UNIQUE,
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

INSERT INTO secret_versions_seq
	(id, sdb_id, path, kind, version, ciphertext, size_bytes, action,
	version_created_by, version_created_ts, action_principal, action_ts)
	SELECT id, sdb_id, path, kind, version, ciphertext, size_bytes, action,
	version_created_by, version_created_ts, action_principal, action_ts
	FROM secret_versions ORDER BY rowid;

DROP TABLE secret_versions;

ALTER TABLE secret_versions_seq RENAME TO secret_versions;

CREATE INDEX secret_versions_sdb_id_path_seq ON secret_versions (sdb_id, path, seq);
