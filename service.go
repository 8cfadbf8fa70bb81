package cerberus

import "context"

// The service interfaces below are what the HTTP layer consumes. Every method
// takes the caller from the context (PrincipalFromContext) and checks its
// authorization itself. Unless stated otherwise a method returns
// ECodeTokenInvalid when the context carries no principal.

// AuthService logs users in and out and resolves tokens.
type AuthService interface {
	// LoginUser checks a user name and password. It returns a token, or,
	// for users with a second factor, a state token for CheckMFA.
	// Returns ECodeBadCredentials for an unknown user or a wrong password,
	// without telling which.
	LoginUser(ctx context.Context, username, password string) (*AuthResult, error)

	// CheckMFA completes a login started by LoginUser with a one-time code.
	// Returns ECodeBadCredentials for a bad or expired state token and
	// ECodeFactorInvalid for a wrong code.
	CheckMFA(ctx context.Context, stateToken, deviceID, otp string) (*AuthResult, error)

	// LoginSTS completes the caller's signed STS GetCallerIdentity request
	// and issues a token for the ARN STS returns. Returns
	// ECodeMissingAWSHeaders, ECodeBadRequest (bad signature header or
	// region), ECodeSignatureMismatch, ECodeExpiredAWSToken,
	// ECodeBadCredentials (other refusals, or a bad server ID),
	// ECodeUnavailable when STS cannot be reached, and
	// ECodeIAMPrincipalInvalid when the principal is granted on no SDB.
	LoginSTS(ctx context.Context, sig AWSSignature) (*IssuedToken, error)

	// RefreshToken revokes the caller's token and issues a new one with the
	// same groups. Returns ECodeUserOnly for an IAM principal and
	// ECodeRefreshLimit when the refresh limit is reached.
	RefreshToken(ctx context.Context) (*AuthResult, error)

	// Logout revokes the caller's token.
	Logout(ctx context.Context) error

	// Authenticate resolves a token to its principal. Returns
	// ECodeTokenInvalid for an unknown, expired or revoked token.
	Authenticate(ctx context.Context, token Token) (*Principal, error)
}

// SDBService manages categories, roles and safe deposit boxes.
type SDBService interface {
	// ListCategories returns every category.
	ListCategories(ctx context.Context) ([]*Category, error)
	// ListRoles returns the three roles.
	ListRoles(ctx context.Context) ([]*Role, error)
	// FindSDBs returns the summaries of the SDBs on which the caller has a
	// role, ordered by name.
	FindSDBs(ctx context.Context) ([]*SDBSummary, error)
	// FindSDBByID returns an SDB on which the caller has a role.
	// Returns ECodeNotFound if there is no such SDB and ECodeAccessDenied if
	// the caller has no role on it.
	FindSDBByID(ctx context.Context, id string) (*SDB, error)
	// CreateSDB creates an SDB. Returns ECodeSDBNameDuplicate if an SDB
	// with the same slug exists, and a validation code for bad input.
	CreateSDB(ctx context.Context, in *SDBInput) (*SDB, error)
	// UpdateSDB replaces an SDB's description, owner and permissions.
	// Only its owners and admins may. Returns ECodeNotFound or
	// ECodeAccessDenied as FindSDBByID.
	UpdateSDB(ctx context.Context, id string, in *SDBInput) (*SDB, error)
	// DeleteSDB deletes an SDB with its secrets and their versions. Only its
	// owners and admins may.
	DeleteSDB(ctx context.Context, id string) error
}

// SecretService reads and writes secrets. Reading needs any role on the SDB,
// writing and deleting needs owner or write; admins get no bypass.
type SecretService interface {
	// ReadSecret returns the value at p: the live one for versionID "" or
	// CurrentVersion, otherwise the version of the history with that id
	// (then Secret.VersionInfo describes it). Returns ECodeNotFound if the
	// SDB, the secret or the version does not exist (ErrSecretNotFound for
	// the last two), ECodeAccessDenied without a read role.
	ReadSecret(ctx context.Context, p SecretPath, versionID string) (*Secret, error)
	// ListSecrets returns the immediate children of the folder p: secret
	// names, and sub-folders ending in "/". Files are not listed. A missing
	// folder is empty.
	ListSecrets(ctx context.Context, p SecretPath) ([]string, error)
	// WriteSecret replaces the value at p with data. Returns
	// ECodeBadRequest when p names the SDB itself or data is not a secret
	// body the server accepts, ECodeInvalidSecureType when p holds a file,
	// and ECodeVersionMismatch when opts.IfVersion does not hold.
	WriteSecret(ctx context.Context, p SecretPath, data SecretData, opts WriteOptions) error
	// DeleteSecret deletes the value at p. Returns ECodeNotFound if there is
	// none.
	DeleteSecret(ctx context.Context, p SecretPath) error
}

// FileService reads and writes secure files, with the roles of secrets.
type FileService interface {
	// ReadFile returns the file at p, with its content if content is true:
	// the live one for versionID "" or CurrentVersion, otherwise the
	// version of the history with that id. Returns ECodeNotFound if the
	// SDB, the file or the version does not exist, ECodeAccessDenied
	// without a read role.
	ReadFile(ctx context.Context, p SecretPath, versionID string, content bool) (*SecureFile, error)
	// WriteFile replaces the file at p, whose last segment is its name,
	// with the content that read returns. read is called only once the
	// caller's write role is checked, so that nobody else makes the server
	// read a large body; its error is returned as is. Returns
	// ECodeTooLarge past the size limit of files, ECodeInvalidSecureType
	// when p holds a secret, and ECodeVersionMismatch when opts.IfVersion
	// does not hold.
	WriteFile(ctx context.Context, p SecretPath, read func() (SecretData, error), opts WriteOptions) error
	// DeleteFile deletes the file at p. Returns ECodeNotFound if there is
	// none.
	DeleteFile(ctx context.Context, p SecretPath) error
	// ListFiles returns a page of the files under the folder p, at any
	// depth, newest first.
	ListFiles(ctx context.Context, p SecretPath, page Page) (*FilePage, error)
}

// VersionService reads and manages the version history of secrets and
// files. Reading needs any role on the SDB; restoring and undeleting need
// owner or write; pruning needs owner.
type VersionService interface {
	// ListVersions returns a page of the versions at p, the live value
	// first. Returns ECodeBadRequest when the path has no version at all,
	// as the original did.
	ListVersions(ctx context.Context, p SecretPath, page Page) (*VersionPage, error)
	// ListVersionPaths returns the full paths of the SDB that have a live
	// value or a history. Returns ECodeNotFound or ECodeAccessDenied as
	// SDBService.FindSDBByID.
	ListVersionPaths(ctx context.Context, sdbID string) ([]string, error)
	// RestoreVersion makes the version versionID of p the live value
	// again, as a new version. Returns ErrSecretNotFound if there is no
	// such version.
	RestoreVersion(ctx context.Context, p SecretPath, versionID string) error
	// Undelete restores the value that the last delete at p removed.
	// Returns ErrSecretNotFound when p has a live value or no history.
	Undelete(ctx context.Context, p SecretPath) error
	// PruneVersions deletes the history of p but its keep newest records
	// and returns how many it deleted.
	PruneVersions(ctx context.Context, p SecretPath, keep int) (int, error)
}

// AdminService is what admins do beyond SDB owners: see every SDB, restore
// SDB metadata, override owners and manage categories. Every method
// returns ECodeAccessDenied to non-admins.
type AdminService interface {
	// ListSDBMetadata returns a page of every SDB's metadata, newest
	// first, or only the SDB named name when it is not empty (then
	// ECodeNotFound if there is none).
	ListSDBMetadata(ctx context.Context, name string, page Page) (*SDBMetadataPage, error)
	// RestoreSDBMetadata creates the SDB m describes, under its id, or, if
	// that SDB exists, replaces its metadata; the secrets it holds stay.
	// Returns ECodeCategoryInvalid or ECodeBadRequest for a category or
	// role that does not exist, ECodeSDBNameDuplicate if another SDB has
	// the name or path.
	RestoreSDBMetadata(ctx context.Context, m *SDBMetadata) error
	// OverrideOwner makes owner the owner group of the SDB named sdbName.
	// Returns ECodeNotFound if there is none.
	OverrideOwner(ctx context.Context, sdbName, owner string) error
	// CreateCategory creates a category whose path is the slug of
	// displayName. Returns ECodeCategoryNameBlank, ECodeCategoryNameTooLong
	// or ECodeCategoryExists.
	CreateCategory(ctx context.Context, displayName string) (*Category, error)
	// DeleteCategory deletes a category. Returns ECodeNotFound, or
	// ECodeCategoryInUse while an SDB is in it.
	DeleteCategory(ctx context.Context, id string) error
}
