package service

import (
	"context"
	"fmt"
	"time"

	"github.com/cerberus-go/cerberus"
)

// Store is the persistence the services need. It sees ciphertext only.
// Implementations return *cerberus.Error values with the codes named below;
// besides, any method may return ECodeUnavailable when the database cannot
// be reached (the API answers 503), ECodeTooLarge for a value the database
// cannot hold, and ECodeBadRequest for text it cannot store. Anything else
// is wrapped as an internal error.
type Store interface {
	// ListCategories returns every category, ordered by display name.
	ListCategories(ctx context.Context) ([]*cerberus.Category, error)
	// ListRoles returns every role, ordered by name.
	ListRoles(ctx context.Context) ([]*cerberus.Role, error)
	// CreateCategory stores a new category. Returns ECodeCategoryExists if
	// one with the same display name or path exists.
	CreateCategory(ctx context.Context, c *cerberus.Category) error
	// DeleteCategory deletes a category. Returns ECodeNotFound if it does
	// not exist, ECodeCategoryInUse if an SDB is in it.
	DeleteCategory(ctx context.Context, id string) error

	// CreateSDB stores a new SDB with its owner, permissions and
	// MaxVersions in one transaction. The owner is kept as a group permission with the owner
	// role. Returns ECodeSDBNameDuplicate if an SDB with the same name or
	// slug exists, ECodeCategoryInvalid for an unknown category.
	CreateSDB(ctx context.Context, sdb *cerberus.SDB) error
	// UpdateSDB replaces description, owner, permissions, MaxVersions and
	// last-updated fields of an SDB in one transaction, and deletes the
	// history records past a new MaxVersions. Returns ECodeNotFound if it
	// does not exist.
	UpdateSDB(ctx context.Context, sdb *cerberus.SDB) error
	// DeleteSDB deletes an SDB, its permissions, secrets and versions in one
	// transaction. Returns ECodeNotFound if it does not exist.
	DeleteSDB(ctx context.Context, id string) error
	// FindSDBByID returns an SDB with its permissions. Returns
	// ECodeNotFound.
	FindSDBByID(ctx context.Context, id string) (*cerberus.SDB, error)
	// FindSDBByPath returns the SDB stored under path ("app/slug/").
	// Returns ECodeNotFound.
	FindSDBByPath(ctx context.Context, path string) (*cerberus.SDB, error)
	// ListSDBs returns a page of every SDB, or only of the SDB named name
	// when name is not empty, with their permissions, newest created first
	// and then by id, skipping offset SDBs and returning at most limit,
	// with the number of such SDBs. Returns ECodeBadRequest if limit or
	// offset is negative.
	ListSDBs(ctx context.Context, name string, limit, offset int) ([]*cerberus.SDB, int, error)
	// RestoreSDB stores sdb with its id, audit fields and permissions as
	// given (its owner's grant gets sdb's audit fields): it replaces the
	// SDB with that id, all of its fields and permissions, or creates it.
	// The secrets it holds stay, and their history is bounded by the new
	// MaxVersions as UpdateSDB does. Returns ECodeSDBNameDuplicate if another
	// SDB has the name, slug or path, ECodeCategoryInvalid for an unknown
	// category.
	RestoreSDB(ctx context.Context, sdb *cerberus.SDB) error
	// ListSDBSummaries returns the summaries of the SDBs where one of
	// groups is the owner or has a group permission, or one of arns has an
	// IAM permission, once each, ordered by name. It reads no permission
	// beyond those that match, through indexes of group names and ARNs,
	// so that its work grows with the SDBs found and not with their
	// grants.
	ListSDBSummaries(ctx context.Context, groups, arns []string) ([]*cerberus.SDBSummary, error)
	// HasSDBGrant reports whether one of groups is the owner of some SDB
	// or has a group permission on one, or one of arns has an IAM
	// permission on one. It stops at the first grant found, through
	// indexes of group names and ARNs, so that its work does not grow with
	// the number of SDBs or grants.
	HasSDBGrant(ctx context.Context, groups, arns []string) (bool, error)
	// CountSDBsCreatedBy returns the number of SDBs whose CreatedBy is by,
	// through an index of it.
	CountSDBsCreatedBy(ctx context.Context, by string) (int, error)

	// FindSecret returns the current record at (sdbID, path). Returns
	// ECodeNotFound.
	FindSecret(ctx context.Context, sdbID, path string) (*SecretRecord, error)
	// FindSecretInfo returns the current record at (sdbID, path) as
	// FindSecret does, but without its ciphertext (nil), which can be as
	// large as a file. Returns ECodeNotFound.
	FindSecretInfo(ctx context.Context, sdbID, path string) (*SecretRecord, error)
	// LastSecretVersion returns the highest version stored at (sdbID,
	// path), live or in the history, or 0 if there is none.
	LastSecretVersion(ctx context.Context, sdbID, path string) (int64, error)
	// PutSecret stores rec as the current value at (rec.SDBID, rec.Path),
	// with version rec.Version (if zero, prev+1, which rec then gets), if
	// the current version is still prev (0: no current value); a version
	// must be greater than prev. The record it replaces moves to the version
	// history with action UPDATE; when the SDB bounds its history
	// (MaxVersions), the path's oldest history records past the bound are
	// deleted in the same transaction. When it replaces a value, the new
	// value keeps the creator and creation time of the old one, and rec
	// gets them too. Returns ECodeConflict if the current version is not
	// prev.
	PutSecret(ctx context.Context, rec *SecretRecord, prev int64) error
	// DeleteSecret removes the current value at (sdbID, path) if its
	// version is still prev, keeping it in the history with action DELETE,
	// by and at, and bounding the history as PutSecret does. Returns
	// ECodeNotFound if there is none, ECodeConflict if the version changed.
	DeleteSecret(ctx context.Context, sdbID, path string, prev int64, by string, at time.Time) error
	// ListSecretPaths returns the stored paths of current values of kind
	// in sdbID that begin with prefix (compared byte-wise, never as a
	// pattern), in byte order.
	ListSecretPaths(ctx context.Context, sdbID, prefix string, kind SecretKind) ([]string, error)
	// ListFiles returns a page of the current values of kind FILE in sdbID
	// whose paths begin with prefix (byte-wise), newest created first and
	// then by path, skipping offset records and returning at most limit,
	// with the number of such files. The records have no Ciphertext.
	// Returns ECodeBadRequest if limit or offset is negative.
	ListFiles(ctx context.Context, sdbID, prefix string, limit, offset int) ([]*SecretRecord, int, error)
	// ListSecretVersions returns a page of the history of (sdbID, path):
	// the values that were replaced or deleted there, newest first (the
	// order they were archived in), skipping offset records and returning
	// at most limit, with the total number of history records of the path.
	// The current value is not part of the history. The records have no
	// Ciphertext; VersionID, Action, ActionBy and ActionAt tell the history
	// record apart, and CreatedBy, CreatedAt, LastUpdatedBy and
	// LastUpdatedAt all say who wrote that version and when. A path without
	// history, or an unknown SDB, gives no records and a total of 0.
	// Returns ECodeBadRequest if limit or offset is negative.
	ListSecretVersions(ctx context.Context, sdbID, path string, limit, offset int) ([]*SecretRecord, int, error)
	// FindSecretVersion returns the history record id of (sdbID, path),
	// with its Ciphertext, filled as ListSecretVersions fills records.
	// Returns ECodeNotFound if the path has no such record.
	FindSecretVersion(ctx context.Context, sdbID, path, id string) (*SecretRecord, error)
	// ListVersionPaths returns the stored paths of sdbID that have a
	// current value or a history, once each, in byte order.
	ListVersionPaths(ctx context.Context, sdbID string) ([]string, error)
	// PruneSecretVersions deletes the history records of (sdbID, path)
	// but the keep newest, and returns how many it deleted. Returns
	// ECodeBadRequest if keep is negative.
	PruneSecretVersions(ctx context.Context, sdbID, path string, keep int) (int64, error)

	// CreateUser stores a local user. Returns ECodeUserExists.
	CreateUser(ctx context.Context, u *User) error
	// UpdateUser replaces a user's password hash, groups, TOTP secret and
	// UpdatedAt, finding it by ID, and deletes every token issued to the
	// user, in one transaction: a change of credentials or groups ends the
	// user's sessions. It leaves the TOTP counter alone: only
	// AdvanceTOTPCounter moves it. Returns ECodeNotFound.
	UpdateUser(ctx context.Context, u *User) error
	// DeleteUser deletes a user and every token issued to it. Returns
	// ECodeNotFound.
	DeleteUser(ctx context.Context, name string) error
	// FindUserByName returns a user. Returns ECodeNotFound.
	FindUserByName(ctx context.Context, name string) (*User, error)
	// ListUsers returns every user ordered by name.
	ListUsers(ctx context.Context) ([]*User, error)
	// AdvanceTOTPCounter records that the TOTP time step counter was used by
	// user id, if it is greater than the last one recorded. Returns
	// ECodeConflict if it is not (a replayed code).
	AdvanceTOTPCounter(ctx context.Context, userID string, counter int64) error

	// CreateToken stores a token record.
	CreateToken(ctx context.Context, t *TokenRecord) error
	// FindTokenByHash returns the token with that hash, expired or not.
	// Returns ECodeNotFound.
	FindTokenByHash(ctx context.Context, hash []byte) (*TokenRecord, error)
	// DeleteToken deletes a token by id. Returns ECodeNotFound if it was
	// already gone, so that only one of two racing revocations succeeds.
	DeleteToken(ctx context.Context, id string) error
	// DeleteExpiredTokens deletes tokens that expired before now and
	// returns how many.
	DeleteExpiredTokens(ctx context.Context, now time.Time) (int64, error)
	// CountTokens returns the number of tokens that have not expired at
	// now (those DeleteExpiredTokens(now) keeps).
	CountTokens(ctx context.Context, now time.Time) (int64, error)

	// PutNode stores the report of a running server, replacing the one
	// with the same ID.
	PutNode(ctx context.Context, n *NodeRecord) error
	// ListNodes returns every node report, ordered by ID.
	ListNodes(ctx context.Context) ([]*NodeRecord, error)
	// DeleteNode deletes the report of a node, and of the nodes not seen
	// since before staleBefore. A missing report is not an error.
	DeleteNode(ctx context.Context, id string, staleBefore time.Time) error

	// PutKeyIfAbsent stores a named server key (already sealed by the
	// envelope) unless one with that name exists; then it does nothing, so
	// that nodes starting together agree on the first one written.
	PutKeyIfAbsent(ctx context.Context, name string, sealed []byte) error
	// FindKey returns a named server key. Returns ECodeNotFound.
	FindKey(ctx context.Context, name string) ([]byte, error)

	// ListSealed walks every stored ciphertext, for key rotation. It
	// returns the records that come after the position after (the zero
	// SealedCursor is the start), at most limit of them, and the position
	// of the last one returned; an empty page ends the walk. The walk goes
	// through the kinds in the order of SealedKinds: current secrets by
	// SDB id then path, the secret history by history record id, the TOTP
	// seeds of the users that have one by user id, and the server keys by
	// name (ids, names and paths compared byte-wise). A record that exists
	// during the whole walk is returned exactly once, whatever is written
	// meanwhile; one created or deleted during the walk may or may not be.
	// A page holds at least one record, and may stop short of limit once
	// its ciphertexts hold more than MaxSealedPageBytes, so that memory
	// stays bounded. Returns ECodeBadRequest if limit is not positive or
	// the cursor's kind is unknown.
	ListSealed(ctx context.Context, after SealedCursor, limit int) ([]*SealedRecord, SealedCursor, error)
	// ReplaceSealed replaces the ciphertext of the record rec names (by its
	// Kind and keys, as ListSealed filled them) with newCiphertext, if the
	// record still holds rec.Ciphertext byte for byte. It changes nothing
	// else: no version, timestamp, author or history record. Returns
	// ECodeConflict if the record holds another ciphertext or is gone: a
	// write since rec was read made a fresh one, or deleted it.
	ReplaceSealed(ctx context.Context, rec *SealedRecord, newCiphertext []byte) error

	// Export dumps every table of DumpTables, in that order, calling fn
	// once per row with the table's name and the row's values in the order
	// and of the types of its DumpColumns (int64, string, []byte, or nil
	// for NULL). Tokens are not exported. The rows come from one snapshot
	// of the database, so that the dump is consistent while other writes go
	// on, and are streamed: the store holds one row at a time. An error
	// from fn stops the dump and is returned as is.
	Export(ctx context.Context, fn func(table string, row []any) error) error
	// Import loads a dump made by Export (of this or any other store type)
	// in one transaction: all of it or, on any error, none of it is stored.
	// next returns the rows one at a time, as Export gave them, and io.EOF
	// itself (not wrapped) after the last; any other error from next stops
	// the import and is returned as is. The tables must come in the order of DumpTables (a table may
	// have no rows). The store must hold no SDB, secret, history record or
	// user: the seeded categories and roles are replaced by the dump's, so
	// that the ids that records refer to stay the same, and the server keys
	// and tokens the store holds are deleted (the dump's server keys
	// replace them; tokens are not part of a dump). Returns
	// ECodeBadRequest if the store is not empty, if the dump has an unknown
	// table, tables out of order, a row of the wrong shape, or no category
	// or no role.
	Import(ctx context.Context, next func() (table string, row []any, err error)) error
}

// MaxSealedPageBytes is the size of ciphertexts after which a page of
// ListSealed may stop short of its limit.
const MaxSealedPageBytes = 8 << 20

// SealedKind names the kind of record a stored ciphertext belongs to, which
// tells how its associated data is built.
type SealedKind string

// Kinds of sealed records, in the order ListSealed walks them.
const (
	// SealedSecret is the current value of a secret; its associated data
	// is that of the secret's kind, SDB, path and version.
	SealedSecret SealedKind = "secret"
	// SealedSecretVersion is a value in a secret's history; its
	// associated data is that of the version it was written as.
	SealedSecretVersion SealedKind = "secret-version"
	// SealedUserTOTP is the TOTP seed of a local user, bound to its id.
	SealedUserTOTP SealedKind = "user-totp"
	// SealedServerKey is a server key, bound to its name.
	SealedServerKey SealedKind = "server-key"
)

// SealedKinds lists the kinds of sealed records in the order ListSealed
// walks them.
func SealedKinds() []SealedKind {
	return []SealedKind{SealedSecret, SealedSecretVersion, SealedUserTOTP, SealedServerKey}
}

// SealedRecord is one stored ciphertext with what is needed to rebuild its
// associated data and to find it again.
type SealedRecord struct {
	Kind SealedKind
	// SDBID, Path, SecretKind and Version are those of a secret or of a
	// history record (the version it was written as).
	SDBID      string
	Path       string
	SecretKind SecretKind
	Version    int64
	// VersionID is the id of a history record.
	VersionID string
	// UserID is the id of the user whose TOTP seed this is.
	UserID string
	// Name is the name of a server key.
	Name string
	// Ciphertext is the envelope ciphertext stored in the record.
	Ciphertext []byte
}

// SealedCursor is a position in the walk of ListSealed: just after the
// record it names. The zero value is the start of the walk.
type SealedCursor struct {
	// Kind is the kind of the record; "" before the first one.
	Kind SealedKind
	// SDBID and Path name a current secret.
	SDBID, Path string
	// ID is the id of a history record or of a user, or the name of a
	// server key.
	ID string
}

// Cursor returns the position just after r in the walk of ListSealed.
func (r *SealedRecord) Cursor() SealedCursor {
	c := SealedCursor{Kind: r.Kind}
	switch r.Kind {
	case SealedSecret:
		c.SDBID, c.Path = r.SDBID, r.Path
	case SealedSecretVersion:
		c.ID = r.VersionID
	case SealedUserTOTP:
		c.ID = r.UserID
	case SealedServerKey:
		c.ID = r.Name
	}
	return c
}

// DumpType is the Go type of the values of a column in a dump.
type DumpType int

// Types of dump values. A NULL is nil whatever the type.
const (
	DumpInt   DumpType = iota + 1 // int64
	DumpText                      // string (any bytes: secret paths need not be UTF-8)
	DumpBytes                     // []byte
)

// String names the type.
func (t DumpType) String() string {
	switch t {
	case DumpInt:
		return "int64"
	case DumpText:
		return "string"
	case DumpBytes:
		return "[]byte"
	}
	return fmt.Sprintf("DumpType(%d)", int(t))
}

// DumpColumn is a column of a dumped table.
type DumpColumn struct {
	Name     string
	Type     DumpType
	Nullable bool
	// Default, when not nil, is the value of a column added after the
	// first release of the dump format: rows of older dumps end before
	// it, and Import gives it this value.
	Default any
}

// DumpTable is a table of a dump and its columns, in the order of a row's
// values.
type DumpTable struct {
	Name    string
	Columns []DumpColumn
}

// DumpTables returns the tables of a dump made by Export, in the order
// Export gives them and Import takes them: each table after the ones it
// refers to. Timestamps are Unix milliseconds; is_owner is 0 or 1;
// group_names is the JSON array of the groups. The history
// (secret_versions) comes in the order it was archived, which Import keeps.
// Tokens are not part of a dump.
func DumpTables() []DumpTable {
	col := func(name string, t DumpType) DumpColumn { return DumpColumn{Name: name, Type: t} }
	null := func(name string, t DumpType) DumpColumn { return DumpColumn{Name: name, Type: t, Nullable: true} }
	i, s, b := DumpInt, DumpText, DumpBytes
	return []DumpTable{
		{"categories", []DumpColumn{col("id", s), col("display_name", s), col("path", s),
			col("created_by", s), col("last_updated_by", s), col("created_ts", i), col("last_updated_ts", i)}},
		{"roles", []DumpColumn{col("id", s), col("name", s),
			col("created_by", s), col("last_updated_by", s), col("created_ts", i), col("last_updated_ts", i)}},
		{"sdbs", []DumpColumn{col("id", s), col("category_id", s), col("name", s), col("slug", s),
			null("description", s), col("path", s),
			col("created_by", s), col("last_updated_by", s), col("created_ts", i), col("last_updated_ts", i),
			{Name: "max_versions", Type: i, Default: int64(0)}}},
		{"user_group_permissions", []DumpColumn{col("id", s), col("sdb_id", s), col("group_name", s),
			col("role_id", s), col("is_owner", i),
			col("created_by", s), col("last_updated_by", s), col("created_ts", i), col("last_updated_ts", i)}},
		{"iam_principal_permissions", []DumpColumn{col("id", s), col("sdb_id", s), col("arn", s), col("role_id", s),
			col("created_by", s), col("last_updated_by", s), col("created_ts", i), col("last_updated_ts", i)}},
		{"secrets", []DumpColumn{col("sdb_id", s), col("path", s), col("kind", s), col("version", i),
			col("ciphertext", b), col("size_bytes", i),
			col("created_by", s), col("last_updated_by", s), col("created_ts", i), col("last_updated_ts", i)}},
		{"secret_versions", []DumpColumn{col("id", s), col("sdb_id", s), col("path", s), col("kind", s),
			col("version", i), col("ciphertext", b), col("size_bytes", i), col("action", s),
			col("version_created_by", s), col("version_created_ts", i), col("action_principal", s), col("action_ts", i)}},
		{"users", []DumpColumn{col("id", s), col("name", s), col("password_hash", s), col("group_names", s),
			null("totp_secret", b), col("totp_last_counter", i), col("created_ts", i), col("updated_ts", i)}},
		{"server_keys", []DumpColumn{col("name", s), col("sealed", b), col("created_ts", i)}},
	}
}

// SecretKind tells a key/value secret from a secure file at a path.
type SecretKind string

// Kinds of stored secrets, spelled as the original server stores them.
const (
	KindObject SecretKind = "OBJECT"
	KindFile   SecretKind = "FILE"
)

// SecretRecord is a stored secret: its envelope ciphertext and metadata.
type SecretRecord struct {
	SDBID         string
	Path          string // stored path "<slug>/<sub>"
	Kind          SecretKind
	Version       int64 // 1 for the first write, +1 for each later one
	Ciphertext    []byte
	SizeBytes     int
	CreatedBy     string
	LastUpdatedBy string
	CreatedAt     time.Time
	LastUpdatedAt time.Time

	// VersionID, Action, ActionBy and ActionAt describe a record of the
	// history: its id, what was done to the value (UPDATE or DELETE), by
	// whom and when. Only ListSecretVersions fills them.
	VersionID string
	Action    string
	ActionBy  string
	ActionAt  time.Time
}

// User is a local user of the built-in user directory.
type User struct {
	ID           string
	Name         string
	PasswordHash string // PHC string: $argon2id$… or $2a$… (bcrypt)
	Groups       []string
	// TOTPSecret is the envelope ciphertext of the TOTP seed, nil when the
	// user has no second factor.
	TOTPSecret      []byte
	TOTPLastCounter int64
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// NodeRecord is what a running server reports about itself through the
// store, refreshed every few seconds: the keys it knows, so that a key
// rotation can wait for every node to know the new key.
type NodeRecord struct {
	ID        string    // random, new at each start
	Host      string    // the host name, for the operator
	PID       int       // the process id, for the operator
	StartedAt time.Time // the start of the server
	SeenAt    time.Time // the last report
	// PrimaryKey is the id of the key it wraps new data keys under, and
	// KeyIDs the ids of every key it can unwrap with.
	PrimaryKey string
	KeyIDs     []string
}

// TokenRecord is a stored token. The token itself is never stored, only its
// keyed hash.
type TokenRecord struct {
	ID            string
	Hash          []byte
	PrincipalType cerberus.PrincipalType
	Principal     string
	Groups        []string
	IsAdmin       bool
	RefreshCount  int
	CreatedAt     time.Time
	ExpiresAt     time.Time
}
