package http

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/cerberus-go/cerberus"
)

// The types in this file are the JSON shapes of API.md: snake_case keys,
// null fields emitted, timestamps as RFC 3339 UTC with milliseconds.

// timestamp renders a time as the original did: "2026-01-02T03:04:05.678Z".
type timestamp time.Time

// MarshalJSON implements json.Marshaler.
func (t timestamp) MarshalJSON() ([]byte, error) {
	return []byte(`"` + formatTime(time.Time(t)) + `"`), nil
}

func formatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

type categoryJSON struct {
	ID            string    `json:"id"`
	DisplayName   string    `json:"display_name"`
	Path          string    `json:"path"`
	CreatedTS     timestamp `json:"created_ts"`
	LastUpdatedTS timestamp `json:"last_updated_ts"`
	CreatedBy     string    `json:"created_by"`
	LastUpdatedBy string    `json:"last_updated_by"`
}

func toCategory(c *cerberus.Category) categoryJSON {
	return categoryJSON{c.ID, c.DisplayName, c.Path, timestamp(c.CreatedAt), timestamp(c.LastUpdatedAt), c.CreatedBy, c.LastUpdatedBy}
}

type roleJSON struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	CreatedTS     timestamp `json:"created_ts"`
	LastUpdatedTS timestamp `json:"last_updated_ts"`
	CreatedBy     string    `json:"created_by"`
	LastUpdatedBy string    `json:"last_updated_by"`
}

func toRole(r *cerberus.Role) roleJSON {
	return roleJSON{r.ID, string(r.Name), timestamp(r.CreatedAt), timestamp(r.LastUpdatedAt), r.CreatedBy, r.LastUpdatedBy}
}

type userGroupPermJSON struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	RoleID        string    `json:"role_id"`
	CreatedTS     timestamp `json:"created_ts"`
	LastUpdatedTS timestamp `json:"last_updated_ts"`
	CreatedBy     string    `json:"created_by"`
	LastUpdatedBy string    `json:"last_updated_by"`
}

type iamPermJSON struct {
	ID            string    `json:"id"`
	ARN           string    `json:"iam_principal_arn"`
	RoleID        string    `json:"role_id"`
	CreatedTS     timestamp `json:"created_ts"`
	LastUpdatedTS timestamp `json:"last_updated_ts"`
	CreatedBy     string    `json:"created_by"`
	LastUpdatedBy string    `json:"last_updated_by"`
}

type sdbJSON struct {
	ID                      string              `json:"id"`
	CategoryID              string              `json:"category_id"`
	Name                    string              `json:"name"`
	Description             *string             `json:"description"`
	Path                    string              `json:"path"`
	CreatedTS               timestamp           `json:"created_ts"`
	LastUpdatedTS           timestamp           `json:"last_updated_ts"`
	CreatedBy               string              `json:"created_by"`
	LastUpdatedBy           string              `json:"last_updated_by"`
	Owner                   string              `json:"owner"`
	UserGroupPermissions    []userGroupPermJSON `json:"user_group_permissions"`
	IAMPrincipalPermissions []iamPermJSON       `json:"iam_principal_permissions"`
	MaxVersions             int                 `json:"max_versions"`
}

func toSDB(s *cerberus.SDB) sdbJSON {
	out := sdbJSON{
		ID: s.ID, CategoryID: s.CategoryID, Name: s.Name, Description: s.Description, Path: s.Path,
		CreatedTS: timestamp(s.CreatedAt), LastUpdatedTS: timestamp(s.LastUpdatedAt),
		CreatedBy: s.CreatedBy, LastUpdatedBy: s.LastUpdatedBy, Owner: s.Owner, MaxVersions: s.MaxVersions,
		UserGroupPermissions:    []userGroupPermJSON{},
		IAMPrincipalPermissions: []iamPermJSON{},
	}
	for _, p := range s.UserGroupPermissions {
		out.UserGroupPermissions = append(out.UserGroupPermissions, userGroupPermJSON{
			p.ID, p.Name, p.RoleID, timestamp(p.CreatedAt), timestamp(p.LastUpdatedAt), p.CreatedBy, p.LastUpdatedBy})
	}
	for _, p := range s.IAMPrincipalPermissions {
		out.IAMPrincipalPermissions = append(out.IAMPrincipalPermissions, iamPermJSON{
			p.ID, p.ARN, p.RoleID, timestamp(p.CreatedAt), timestamp(p.LastUpdatedAt), p.CreatedBy, p.LastUpdatedBy})
	}
	return out
}

type sdbSummaryJSON struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Path       string `json:"path"`
	CategoryID string `json:"category_id"`
}

// sdbInputJSON is the body of SDB create and update. Unknown keys (such as
// the Go client's "ID") are ignored.
type sdbInputJSON struct {
	Name                 string  `json:"name"`
	CategoryID           string  `json:"category_id"`
	Description          *string `json:"description"`
	Owner                string  `json:"owner"`
	UserGroupPermissions []struct {
		Name   string `json:"name"`
		RoleID string `json:"role_id"`
	} `json:"user_group_permissions"`
	IAMPrincipalPermissions []struct {
		ARN    string `json:"iam_principal_arn"`
		RoleID string `json:"role_id"`
	} `json:"iam_principal_permissions"`
	// MaxVersions is ours: absent, an update leaves the bound as it is.
	MaxVersions *int `json:"max_versions"`
}

func (in *sdbInputJSON) domain() *cerberus.SDBInput {
	out := &cerberus.SDBInput{Name: in.Name, CategoryID: in.CategoryID, Description: in.Description, Owner: in.Owner, MaxVersions: in.MaxVersions}
	for _, p := range in.UserGroupPermissions {
		out.UserGroupPermissions = append(out.UserGroupPermissions, cerberus.PermissionInput{Name: p.Name, RoleID: p.RoleID})
	}
	for _, p := range in.IAMPrincipalPermissions {
		out.IAMPrincipalPermissions = append(out.IAMPrincipalPermissions, cerberus.PermissionInput{Name: p.ARN, RoleID: p.RoleID})
	}
	return out
}

// tokenJSON is the token object of user logins (under data.client_token).
// Every metadata value is a string: the Go client decodes a
// map[string]string.
type tokenJSON struct {
	ClientToken   string            `json:"client_token"`
	Policies      []string          `json:"policies"`
	Metadata      map[string]string `json:"metadata"`
	LeaseDuration int64             `json:"lease_duration"`
	Renewable     bool              `json:"renewable"`
}

func toUserToken(t *cerberus.IssuedToken) *tokenJSON {
	p := t.Principal
	return &tokenJSON{
		ClientToken: t.Token.Reveal(),
		Policies:    []string{},
		Metadata: map[string]string{
			"username":          p.Name,
			"is_admin":          strconv.FormatBool(p.IsAdmin),
			"groups":            strings.Join(p.Groups, ","),
			"refresh_count":     strconv.Itoa(p.RefreshCount),
			"max_refresh_count": strconv.Itoa(t.MaxRefreshCount),
		},
		LeaseDuration: int64(t.LeaseDuration / time.Second),
		Renewable:     true,
	}
}

// toIAMToken is the bare token object of STS logins.
func toIAMToken(t *cerberus.IssuedToken) *tokenJSON {
	p := t.Principal
	return &tokenJSON{
		ClientToken: t.Token.Reveal(),
		Policies:    []string{},
		Metadata: map[string]string{
			"username":              p.Name,
			"aws_iam_principal_arn": p.Name,
			"aws_region":            t.AWSRegion,
			"is_iam_principal":      "true",
			"is_admin":              strconv.FormatBool(p.IsAdmin),
			"groups":                strings.Join(p.Groups, ","),
		},
		LeaseDuration: int64(t.LeaseDuration / time.Second),
		Renewable:     false,
	}
}

type deviceJSON struct {
	ID              string `json:"id"`
	Name            string `json:"name"`
	RequiresTrigger bool   `json:"requires_trigger"`
	Push            bool   `json:"push"`
}

type authDataJSON struct {
	UserID       *string      `json:"user_id"`
	Username     string       `json:"username"`
	StateToken   *string      `json:"state_token"`
	FactorResult *string      `json:"factor_result"`
	Devices      []deviceJSON `json:"devices"`
	ClientToken  *tokenJSON   `json:"client_token"`
}

type authResponseJSON struct {
	Status string       `json:"status"`
	Data   authDataJSON `json:"data"`
}

func toAuthResponse(a *cerberus.AuthResult) authResponseJSON {
	out := authResponseJSON{Status: string(a.Status), Data: authDataJSON{Username: a.Username, Devices: []deviceJSON{}}}
	if a.UserID != "" {
		out.Data.UserID = &a.UserID
	}
	if a.StateToken != "" {
		out.Data.StateToken = &a.StateToken
	}
	for _, d := range a.Devices {
		out.Data.Devices = append(out.Data.Devices, deviceJSON{ID: d.ID, Name: d.Name})
	}
	if a.Token != nil {
		out.Data.ClientToken = toUserToken(a.Token)
	}
	return out
}

type mfaCheckJSON struct {
	StateToken string `json:"state_token"`
	DeviceID   string `json:"device_id"`
	OTPToken   string `json:"otp_token"`
}

// secretResponseJSON is the Vault-shaped envelope of secret reads.
type secretResponseJSON struct {
	RequestID     *string         `json:"request_id"`
	LeaseID       string          `json:"lease_id"`
	Renewable     bool            `json:"renewable"`
	LeaseDuration int64           `json:"lease_duration"`
	Data          json.RawMessage `json:"data"`
	WrapInfo      any             `json:"wrap_info"`
	Warnings      any             `json:"warnings"`
	Auth          any             `json:"auth"`
	Metadata      any             `json:"metadata"`
}

// fileListJSON is the page of GET /v1/secure-files.
type fileListJSON struct {
	HasNext    bool              `json:"has_next"`
	NextOffset *int              `json:"next_offset"`
	Limit      int               `json:"limit"`
	Offset     int               `json:"offset"`
	Count      int               `json:"file_count_in_result"`
	Total      int               `json:"total_file_count"`
	Files      []fileSummaryJSON `json:"secure_file_summaries"`
}

type fileSummaryJSON struct {
	SDBID         string    `json:"sdbox_id"`
	Path          string    `json:"path"`
	SizeBytes     int       `json:"size_in_bytes"`
	Name          string    `json:"name"`
	CreatedBy     string    `json:"created_by"`
	CreatedTS     timestamp `json:"created_ts"`
	LastUpdatedBy string    `json:"last_updated_by"`
	LastUpdatedTS timestamp `json:"last_updated_ts"`
}

// versionListJSON is the page of GET /v1/secret-versions.
type versionListJSON struct {
	HasNext    bool                 `json:"has_next"`
	NextOffset *int                 `json:"next_offset"`
	Limit      int                  `json:"limit"`
	Offset     int                  `json:"offset"`
	Count      int                  `json:"version_count_in_result"`
	Total      int                  `json:"total_version_count"`
	Versions   []versionSummaryJSON `json:"secure_data_version_summaries"`
}

type versionSummaryJSON struct {
	ID               string    `json:"id"`
	SDBID            string    `json:"sdbox_id"`
	Path             string    `json:"path"`
	Action           string    `json:"action"`
	Type             string    `json:"type"`
	SizeBytes        int       `json:"size_in_bytes"`
	VersionCreatedBy string    `json:"version_created_by"`
	VersionCreatedTS timestamp `json:"version_created_ts"`
	ActionPrincipal  string    `json:"action_principal"`
	ActionTS         timestamp `json:"action_ts"`
}

// versionActionJSON is the body of POST /v1/secret-versions: restore a
// version, or undelete.
type versionActionJSON struct {
	Action    string `json:"action"`
	VersionID string `json:"version_id"`
}

// metadataListJSON is the page of GET /v1/metadata. next_offset is 0 on
// the last page, as in the original.
type metadataListJSON struct {
	HasNext    bool           `json:"has_next"`
	NextOffset int            `json:"next_offset"`
	Limit      int            `json:"limit"`
	Offset     int            `json:"offset"`
	Count      int            `json:"sdb_count_in_result"`
	Total      int            `json:"total_sdbcount"`
	SDBs       []metadataJSON `json:"safe_deposit_box_metadata"`
}

// metadataJSON is an SDB as admins see it, and the body of PUT
// /v1/metadata. Permissions map a group or an ARN to a role name; data is
// always null (the original's restore ignores it too).
type metadataJSON struct {
	ID                   string            `json:"id"`
	Name                 string            `json:"name"`
	Path                 string            `json:"path"`
	Category             string            `json:"category"`
	Owner                string            `json:"owner"`
	Description          *string           `json:"description"`
	CreatedTS            timestamp         `json:"created_ts"`
	CreatedBy            string            `json:"created_by"`
	LastUpdatedTS        timestamp         `json:"last_updated_ts"`
	LastUpdatedBy        string            `json:"last_updated_by"`
	UserGroupPermissions map[string]string `json:"user_group_permissions"`
	IAMRolePermissions   map[string]string `json:"iam_role_permissions"`
	MaxVersions          int               `json:"max_versions"`
	Data                 any               `json:"data"`
}

// metadataInputJSON is the body of PUT /v1/metadata.
type metadataInputJSON struct {
	ID                   string            `json:"id"`
	Name                 string            `json:"name"`
	Path                 string            `json:"path"`
	Category             string            `json:"category"`
	Owner                string            `json:"owner"`
	Description          *string           `json:"description"`
	CreatedTS            *time.Time        `json:"created_ts"`
	CreatedBy            string            `json:"created_by"`
	LastUpdatedTS        *time.Time        `json:"last_updated_ts"`
	LastUpdatedBy        string            `json:"last_updated_by"`
	UserGroupPermissions map[string]string `json:"user_group_permissions"`
	IAMRolePermissions   map[string]string `json:"iam_role_permissions"`
	MaxVersions          int               `json:"max_versions"`
}

func (in *metadataInputJSON) domain() *cerberus.SDBMetadata {
	m := &cerberus.SDBMetadata{
		ID: in.ID, Name: in.Name, Path: in.Path, Category: in.Category, Owner: in.Owner, Description: in.Description,
		CreatedBy: in.CreatedBy, LastUpdatedBy: in.LastUpdatedBy, MaxVersions: in.MaxVersions,
		UserGroupPermissions: map[string]cerberus.RoleName{}, IAMPermissions: map[string]cerberus.RoleName{},
	}
	if in.CreatedTS != nil {
		m.CreatedAt = *in.CreatedTS
	}
	if in.LastUpdatedTS != nil {
		m.LastUpdatedAt = *in.LastUpdatedTS
	}
	for g, r := range in.UserGroupPermissions {
		m.UserGroupPermissions[g] = cerberus.RoleName(r)
	}
	for a, r := range in.IAMRolePermissions {
		m.IAMPermissions[a] = cerberus.RoleName(r)
	}
	return m
}

func toMetadata(m *cerberus.SDBMetadata) metadataJSON {
	out := metadataJSON{
		ID: m.ID, Name: m.Name, Path: m.Path, Category: m.Category, Owner: m.Owner, Description: m.Description,
		CreatedTS: timestamp(m.CreatedAt), CreatedBy: m.CreatedBy,
		LastUpdatedTS: timestamp(m.LastUpdatedAt), LastUpdatedBy: m.LastUpdatedBy,
		UserGroupPermissions: map[string]string{}, IAMRolePermissions: map[string]string{},
		MaxVersions: m.MaxVersions,
	}
	for g, r := range m.UserGroupPermissions {
		out.UserGroupPermissions[g] = string(r)
	}
	for a, r := range m.IAMPermissions {
		out.IAMRolePermissions[a] = string(r)
	}
	return out
}
