package service

import (
	"context"
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

	// CreateSDB stores a new SDB with its owner and permissions in one
	// transaction. The owner is kept as a group permission with the owner
	// role. Returns ECodeSDBNameDuplicate if an SDB with the same name or
	// slug exists, ECodeCategoryInvalid for an unknown category.
	CreateSDB(ctx context.Context, sdb *cerberus.SDB) error
	// UpdateSDB replaces description, owner, permissions, last-updated
	// fields of an SDB in one transaction. Returns ECodeNotFound if it does
	// not exist.
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
	// FindSDBsForPrincipal returns the SDBs, with their permissions, where
	// one of groups is the owner or has a group permission, or one of arns
	// has an IAM permission; ordered by name.
	FindSDBsForPrincipal(ctx context.Context, groups, arns []string) ([]*cerberus.SDB, error)

	// FindSecret returns the current record at (sdbID, path). Returns
	// ECodeNotFound.
	FindSecret(ctx context.Context, sdbID, path string) (*SecretRecord, error)
	// PutSecret stores rec as the current value at (rec.SDBID, rec.Path) if
	// the current version is still prev (0: no current value). The record
	// it replaces moves to the version history with action UPDATE. Returns
	// ECodeConflict if the current version is not prev.
	PutSecret(ctx context.Context, rec *SecretRecord, prev int64) error
	// DeleteSecret removes the current value at (sdbID, path) if its
	// version is still prev, keeping it in the history with action DELETE,
	// by and at. Returns ECodeNotFound if there is none, ECodeConflict if
	// the version changed.
	DeleteSecret(ctx context.Context, sdbID, path string, prev int64, by string, at time.Time) error
	// ListSecretPaths returns the stored paths of current values in sdbID
	// that begin with prefix (compared byte-wise, never as a pattern).
	ListSecretPaths(ctx context.Context, sdbID, prefix string) ([]string, error)
	// ListSecretVersions returns a page of the history of (sdbID, path):
	// the values that were replaced or deleted there, newest first (the
	// order they were archived in, which is descending version order
	// within one life of the path), skipping offset records and returning
	// at most limit, with the total number of history records of the path.
	// The current value is not part of the history. The records have no
	// Ciphertext; VersionID, Action, ActionBy and ActionAt tell the history
	// record apart, and CreatedBy, CreatedAt, LastUpdatedBy and
	// LastUpdatedAt all say who wrote that version and when. A path without
	// history, or an unknown SDB, gives no records and a total of 0.
	// Returns ECodeBadRequest if limit or offset is negative.
	ListSecretVersions(ctx context.Context, sdbID, path string, limit, offset int) ([]*SecretRecord, int, error)

	// CreateUser stores a local user. Returns ECodeUserExists.
	CreateUser(ctx context.Context, u *User) error
	// UpdateUser replaces a user's password hash, groups, TOTP secret and
	// UpdatedAt, finding it by ID. It leaves the TOTP counter alone: only
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

	// PutKeyIfAbsent stores a named server key (already sealed by the
	// envelope) unless one with that name exists; then it does nothing, so
	// that nodes starting together agree on the first one written.
	PutKeyIfAbsent(ctx context.Context, name string, sealed []byte) error
	// FindKey returns a named server key. Returns ECodeNotFound.
	FindKey(ctx context.Context, name string) ([]byte, error)
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
