-- SDBs are counted by their creator, to bound how many one creator makes
-- (--max-sdbs-per-creator). The grants of a principal are found by its
-- groups or ARNs, for logins and listings, from the index alone: it holds
-- the SDB ids too, so that the grant rows are never read. Run again after
-- an interruption, a statement whose index exists, or is already dropped,
-- is skipped (see Migrate).

CREATE INDEX sdbs_created_by ON sdbs (created_by);

CREATE INDEX user_group_permissions_group_name_sdb_id ON user_group_permissions (group_name, sdb_id);

DROP INDEX user_group_permissions_group_name ON user_group_permissions;

CREATE INDEX iam_principal_permissions_arn_sdb_id ON iam_principal_permissions (arn, sdb_id);

DROP INDEX iam_principal_permissions_arn ON iam_principal_permissions;
