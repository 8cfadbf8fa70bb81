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
	// FindSDBs returns the SDBs on which the caller has a role.
	FindSDBs(ctx context.Context) ([]*SDB, error)
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
	// ReadSecret returns the current value at p. Returns ECodeNotFound if
	// the SDB or the secret does not exist, ECodeAccessDenied without a
	// read role.
	ReadSecret(ctx context.Context, p SecretPath) (*Secret, error)
	// ListSecrets returns the immediate children of the folder p: secret
	// names, and sub-folders ending in "/". A missing folder is empty.
	ListSecrets(ctx context.Context, p SecretPath) ([]string, error)
	// WriteSecret replaces the value at p with data. Returns
	// ECodeBadRequest when p names the SDB itself.
	WriteSecret(ctx context.Context, p SecretPath, data SecretData) error
	// DeleteSecret deletes the value at p. Returns ECodeNotFound if there is
	// none.
	DeleteSecret(ctx context.Context, p SecretPath) error
}
