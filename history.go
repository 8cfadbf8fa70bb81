package cerberus

import "time"

// Page asks for a part of a list: at most Limit items, after skipping
// Offset of them.
type Page struct {
	Limit  int
	Offset int
}

// Paging defaults and bounds. A larger limit is lowered to MaxPageLimit.
const (
	DefaultPageLimit = 100
	MaxPageLimit     = 1000
)

// CurrentVersion names the live value of a path where a version id is
// expected, as in the original.
const CurrentVersion = "CURRENT"

// Actions of the version history.
const (
	ActionCreate = "CREATE"
	ActionUpdate = "UPDATE"
	ActionDelete = "DELETE"
)

// Types of the values stored at a path, spelled as the original server
// spells them.
const (
	TypeObject = "OBJECT" // a key/value secret of /v1/secret
	TypeFile   = "FILE"   // a secure file of /v1/secure-file
)

// SecretVersion describes one version of the value at a path: the live one
// (ID CurrentVersion) or one of the history, which keeps every value that
// was replaced or deleted.
type SecretVersion struct {
	ID    string // CurrentVersion, or the history record's id
	SDBID string
	// Path is the full path "<category>/<slug>/<sub>".
	Path string
	// Action is what ended this version (UPDATE or DELETE) for a history
	// record, and CREATE or UPDATE for the live value.
	Action string
	Type   string // TypeObject or TypeFile
	// SizeBytes is the size of this version's value.
	SizeBytes int
	// VersionCreatedBy and VersionCreatedAt say who wrote this version and
	// when; ActionBy and ActionAt who replaced or deleted it and when (for
	// the live value: who wrote it last, and when).
	VersionCreatedBy string
	VersionCreatedAt time.Time
	ActionBy         string
	ActionAt         time.Time
}

// VersionPage is a page of the versions of a path, the live value first,
// then the history newest first.
type VersionPage struct {
	Page
	Total    int
	Versions []*SecretVersion
}

// SecureFile is a secure file: its metadata and, when it was read, its
// content in clear.
type SecureFile struct {
	SDBID string
	// Path is the stored path "<slug>/<sub>", without the category, as the
	// original's summaries give it.
	Path string
	// Name is the last segment of the path.
	Name      string
	SizeBytes int
	// Content is nil when only the metadata was asked for.
	Content       SecretData
	Version       int64
	CreatedBy     string
	LastUpdatedBy string
	CreatedAt     time.Time
	LastUpdatedAt time.Time
	// VersionInfo describes the version read, when one was asked for by id.
	VersionInfo *SecretVersion
}

// FilePage is a page of the secure files under a folder, newest first.
type FilePage struct {
	Page
	Total int
	Files []*SecureFile
}

// WriteOptions qualify a write of a secret or a file.
type WriteOptions struct {
	// IfVersion, when set, makes the write conditional (check-and-set): it
	// happens only if the live value's version is *IfVersion, or, for 0,
	// if there is no live value. Otherwise the write answers
	// ECodeVersionMismatch.
	IfVersion *int64
}

// SDBMetadata is what admins see of an SDB: no secret, and the category
// and roles by name, as the original's /v1/metadata gives them.
type SDBMetadata struct {
	ID          string
	Name        string
	Path        string
	Category    string // the category's display name
	Owner       string
	Description *string
	// UserGroupPermissions maps a group to its role; IAMPermissions an
	// IAM principal ARN to its role. The owner is not among the groups.
	UserGroupPermissions map[string]RoleName
	IAMPermissions       map[string]RoleName
	// MaxVersions is the SDB's bound on kept versions; 0 is unbounded.
	MaxVersions   int
	CreatedBy     string
	LastUpdatedBy string
	CreatedAt     time.Time
	LastUpdatedAt time.Time
}

// SDBMetadataPage is a page of SDB metadata, newest SDB first.
type SDBMetadataPage struct {
	Page
	Total int
	SDBs  []*SDBMetadata
}
