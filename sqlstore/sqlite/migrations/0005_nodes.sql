-- What each running server reports about itself (service.NodeRecord): its
-- key ring, so that "cerberus keys rotate" can refuse while a node does not
-- know the primary key.

CREATE TABLE nodes (
	id TEXT NOT NULL PRIMARY KEY,
	host TEXT NOT NULL,
	pid INTEGER NOT NULL,
	started_ts INTEGER NOT NULL,
	seen_ts INTEGER NOT NULL,
	primary_key TEXT NOT NULL,
	key_ids TEXT NOT NULL
) STRICT;
