-- What each running server reports about itself (service.NodeRecord): its
-- key ring, so that "cerberus keys rotate" can refuse while a node does not
-- know the primary key.

CREATE TABLE nodes (
	id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	host TEXT NOT NULL,
	pid BIGINT NOT NULL,
	started_ts BIGINT NOT NULL,
	seen_ts BIGINT NOT NULL,
	primary_key TEXT COLLATE "C" NOT NULL,
	key_ids TEXT NOT NULL
);
