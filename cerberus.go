// Package cerberus holds the domain of the Cerberus secure property store:
// its types, error codes and the service interfaces that the HTTP layer
// consumes. It imports only the standard library.
//
// # Trust model
//
// The database is not trusted with secrets: secret values reach the store
// only as envelope ciphertext bound to their record. Tokens are stored only as
// keyed hashes. Authorization is enforced by the services on every call, from
// the Principal carried in the context; handlers never decide it.
//
// # Compatibility
//
// Names, codes and shapes follow the original Cerberus server (4.x) so that
// its official clients work unmodified. See docs/compatibility.md.
package cerberus

import (
	"context"
	"log/slog"
	"net/netip"
	"time"
)

// PrincipalType tells a person (USER) from an AWS IAM principal (IAM).
type PrincipalType string

// Principal types, spelled as the original server stores them.
const (
	PrincipalUser PrincipalType = "USER"
	PrincipalIAM  PrincipalType = "IAM"
)

// Principal is an authenticated caller, resolved from its token.
type Principal struct {
	Type   PrincipalType
	Name   string   // user name or IAM ARN
	Groups []string // for users: identity-provider groups, frozen at login
	// IsAdmin is decided at login from the configured admin groups and frozen
	// in the token, as in the original.
	IsAdmin      bool
	TokenID      string // storage id of the token row
	RefreshCount int
	CreatedAt    time.Time
	ExpiresAt    time.Time
}

// LogValue keeps log lines to the principal's identity.
func (p *Principal) LogValue() slog.Value {
	if p == nil {
		return slog.StringValue("anonymous")
	}
	return slog.GroupValue(slog.String("type", string(p.Type)), slog.String("name", p.Name))
}

type principalKey struct{}

// NewContextWithPrincipal returns a context carrying p.
func NewContextWithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFromContext returns the principal in ctx, or nil for an
// anonymous caller.
func PrincipalFromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

type clientIPKey struct{}

// NewContextWithClientIP returns a context carrying the network address of
// the caller, as the HTTP layer determined it (the connection's remote
// address). Services throttle logins by it.
func NewContextWithClientIP(ctx context.Context, ip netip.Addr) context.Context {
	return context.WithValue(ctx, clientIPKey{}, ip)
}

// ClientIPFromContext returns the caller's address, or the zero Addr
// (not valid) when none is known.
func ClientIPFromContext(ctx context.Context) netip.Addr {
	ip, _ := ctx.Value(clientIPKey{}).(netip.Addr)
	return ip
}

// Category groups SDBs; its Path is the first segment of SDB paths.
type Category struct {
	ID            string
	DisplayName   string
	Path          string
	CreatedBy     string
	LastUpdatedBy string
	CreatedAt     time.Time
	LastUpdatedAt time.Time
}

// RoleName is one of the three SDB roles.
type RoleName string

// The SDB roles. Owners edit the SDB and its permissions and read and write
// secrets; writers read and write secrets; readers read.
const (
	RoleOwner RoleName = "owner"
	RoleWrite RoleName = "write"
	RoleRead  RoleName = "read"
)

// CanRead reports whether the role allows reading secrets.
func (r RoleName) CanRead() bool { return r == RoleOwner || r == RoleWrite || r == RoleRead }

// CanWrite reports whether the role allows writing and deleting secrets.
func (r RoleName) CanWrite() bool { return r == RoleOwner || r == RoleWrite }

// Role is a stored role with its id, which clients look up by name.
type Role struct {
	ID            string
	Name          RoleName
	CreatedBy     string
	LastUpdatedBy string
	CreatedAt     time.Time
	LastUpdatedAt time.Time
}

// UserGroupPermission grants a role on an SDB to an identity-provider group.
type UserGroupPermission struct {
	ID            string
	Name          string // group name
	RoleID        string
	CreatedBy     string
	LastUpdatedBy string
	CreatedAt     time.Time
	LastUpdatedAt time.Time
}

// IAMPrincipalPermission grants a role on an SDB to an AWS IAM principal.
type IAMPrincipalPermission struct {
	ID            string
	ARN           string
	RoleID        string
	CreatedBy     string
	LastUpdatedBy string
	CreatedAt     time.Time
	LastUpdatedAt time.Time
}

// SDB is a safe deposit box: a named container of secrets with its owner
// group and permissions. Owner does not appear in UserGroupPermissions.
type SDB struct {
	ID                      string
	CategoryID              string
	Name                    string
	Slug                    string
	Description             *string
	Path                    string // "<category path>/<slug>/"
	Owner                   string
	UserGroupPermissions    []UserGroupPermission
	IAMPrincipalPermissions []IAMPrincipalPermission
	// MaxVersions bounds the history kept of each path of the SDB: a write
	// or delete that archives a value prunes the oldest records past it.
	// Zero keeps every version, as the original did.
	MaxVersions   int
	CreatedBy     string
	LastUpdatedBy string
	CreatedAt     time.Time
	LastUpdatedAt time.Time
}

// SDBInput is what a caller sends to create or update an SDB. On update the
// permission lists are the complete desired state; Name and CategoryID cannot
// change.
type SDBInput struct {
	Name                    string
	CategoryID              string
	Description             *string
	Owner                   string
	UserGroupPermissions    []PermissionInput
	IAMPrincipalPermissions []PermissionInput
	// MaxVersions, when set, bounds the history of each path (0: keep
	// every version); on update, nil leaves the bound as it is.
	MaxVersions *int
}

// PermissionInput is one grant in an SDBInput: a group name or an IAM ARN,
// and a role id.
type PermissionInput struct {
	Name   string
	RoleID string
}

// Secret is one decrypted secret with its metadata.
type Secret struct {
	// Data is the stored body: a JSON object, or, where the server accepts
	// any body as the original did, any text.
	Data          SecretData
	Version       int64
	CreatedBy     string
	LastUpdatedBy string
	CreatedAt     time.Time
	LastUpdatedAt time.Time
	// VersionInfo describes the version read, when one was asked for by id.
	VersionInfo *SecretVersion
}

// MFADevice is a second factor a user can answer a challenge with.
type MFADevice struct {
	ID   string
	Name string
}

// AuthStatus is the status of a login answer.
type AuthStatus string

// Login statuses.
const (
	AuthSuccess     AuthStatus = "success"
	AuthMFARequired AuthStatus = "mfa_req"
)

// AuthResult answers a user login: either a token, or a state token and the
// devices with which to complete an MFA challenge.
type AuthResult struct {
	Status     AuthStatus
	UserID     string
	Username   string
	StateToken string
	Devices    []MFADevice
	Token      *IssuedToken
}

// IssuedToken is a newly issued token with what the caller is told about it.
type IssuedToken struct {
	Token           Token
	Principal       Principal
	LeaseDuration   time.Duration
	MaxRefreshCount int
	// AWSRegion is the region of the STS login that issued the token, for
	// IAM principals.
	AWSRegion string
}

// AWSSignature is what a client sends to log in as an AWS IAM principal:
// the headers of an STS GetCallerIdentity request it signed with its own
// credentials. Nothing else of the request is used.
type AWSSignature struct {
	Authorization string // Authorization
	AmzDate       string // X-Amz-Date
	SecurityToken string // X-Amz-Security-Token, optional
	ServerID      string // X-Cerberus-Server-ID, optional
}
