-- SDBs may bound the history kept of each of their paths (0: keep every
-- version). Admins list SDBs newest first, and secure files are listed
-- newest first within an SDB.

ALTER TABLE sdbs ADD COLUMN max_versions INTEGER NOT NULL DEFAULT 0 CHECK (max_versions >= 0);

CREATE INDEX sdbs_created_ts ON sdbs (created_ts, id);

CREATE INDEX secrets_sdb_id_kind_created_ts ON secrets (sdb_id, kind, created_ts);
