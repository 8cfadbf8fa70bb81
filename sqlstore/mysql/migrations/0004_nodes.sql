-- What each running server reports about itself (service.NodeRecord): its
-- key ring, so that "cerberus keys rotate" can refuse while a node does not
-- know the primary key. Run again after an interruption, the statement is
-- skipped if the table exists.

CREATE TABLE IF NOT EXISTS nodes (
	id VARBINARY(64) NOT NULL,
	host VARCHAR(255) NOT NULL,
	pid BIGINT NOT NULL,
	started_ts BIGINT NOT NULL,
	seen_ts BIGINT NOT NULL,
	primary_key VARBINARY(255) NOT NULL,
	key_ids TEXT NOT NULL,
	PRIMARY KEY (id)
) ENGINE = InnoDB ROW_FORMAT = DYNAMIC;
