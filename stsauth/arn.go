package stsauth

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cerberus-go/cerberus"
)

// Types of principal an ARN names.
const (
	TypeRoot          = "root"           // arn:<p>:iam::<account>:root
	TypeRole          = "role"           // arn:<p>:iam::<account>:role/[<path>/]<name>
	TypeUser          = "user"           // arn:<p>:iam::<account>:user/[<path>/]<name>
	TypeAssumedRole   = "assumed-role"   // arn:<p>:sts::<account>:assumed-role/<role>/<session>
	TypeFederatedUser = "federated-user" // arn:<p>:sts::<account>:federated-user/<name>
)

// MaxARNLength is the longest ARN ParseARN accepts, in bytes (the limit AWS
// gives for ARNs in policies).
const MaxARNLength = 2048

// MaxGrantARNLength is the longest ARN ValidateGrantARN accepts, in bytes:
// the column width of the original server.
const MaxGrantARNLength = 255

const (
	maxNameLength = 64  // IAM role, user and session names
	maxPathLength = 512 // IAM paths
)

// ARN is a parsed AWS principal ARN of the kinds STS GetCallerIdentity
// returns and SDB permissions grant: an account root, an IAM role or user,
// an assumed-role session or a federated user, in the partitions aws, aws-cn
// and aws-us-gov.
type ARN struct {
	Partition string // aws, aws-cn or aws-us-gov
	Service   string // iam for root, role and user; sts otherwise
	Account   string // 12 digits
	Type      string // one of the Type constants
	// Path is the IAM path of a role or user, "/" or "/a/b/"; empty for the
	// other types.
	Path string
	// Name is the name of the role or user, the role of an assumed-role
	// session, or the name of a federated user; empty for a root.
	Name string
	// Session is the session name of an assumed-role session.
	Session string
}

// ParseARN parses a principal ARN. Account ids are 12 digits; names,
// session names and path segments are 1 to 64 of [A-Za-z0-9+=,.@_-] (IAM's
// character set, so never a wildcard, a space or a slash); roles and users
// may have a path (GetCallerIdentity reports an IAM user with its path).
// An ARN that parses round-trips: a.String() == s.
func ParseARN(s string) (ARN, error) {
	a, why := parseARN(s)
	if why != "" {
		return ARN{}, errors.New("stsauth: invalid principal ARN: " + why)
	}
	return a, nil
}

func parseARN(s string) (a ARN, why string) {
	if len(s) > MaxARNLength {
		return a, fmt.Sprintf("it is longer than %d bytes", MaxARNLength)
	}
	f := strings.Split(s, ":")
	if len(f) != 6 || f[0] != "arn" {
		return a, "it is not arn:<partition>:<service>::<account>:<resource>"
	}
	a.Partition, a.Service, a.Account = f[1], f[2], f[4]
	region, resource := f[3], f[5]
	switch a.Partition {
	case PartitionAWS, PartitionChina, PartitionGov:
	default:
		return a, "the partition is not aws, aws-cn or aws-us-gov"
	}
	if region != "" {
		return a, "principal ARNs have no region"
	}
	if len(a.Account) != 12 || !isDigits(a.Account) {
		return a, "the account id is not 12 digits"
	}
	typ, rest, _ := strings.Cut(resource, "/")
	a.Type = typ
	switch a.Service {
	case "iam":
		switch typ {
		case TypeRoot:
			if resource != TypeRoot {
				return a, "the root ARN has nothing after \"root\""
			}
			return a, ""
		case TypeRole, TypeUser:
			segs := strings.Split(rest, "/")
			if len(rest) > maxPathLength+maxNameLength {
				return a, "the path is too long"
			}
			for _, seg := range segs {
				if !isName(seg) {
					return a, badName(typ)
				}
			}
			a.Name = segs[len(segs)-1]
			a.Path = "/"
			if len(segs) > 1 {
				a.Path = "/" + strings.Join(segs[:len(segs)-1], "/") + "/"
			}
			return a, ""
		case TypeAssumedRole, TypeFederatedUser:
			return a, typ + " ARNs are in the sts service, not iam"
		}
	case "sts":
		switch typ {
		case TypeAssumedRole:
			role, session, ok := strings.Cut(rest, "/")
			if !ok || !isName(role) || !isName(session) {
				return a, "an assumed-role ARN is …:assumed-role/<role name>/<session name>, " +
					"each 1 to 64 of [A-Za-z0-9+=,.@_-]"
			}
			a.Name, a.Session = role, session
			return a, ""
		case TypeFederatedUser:
			if !isName(rest) {
				return a, badName(typ)
			}
			a.Name = rest
			return a, ""
		case TypeRoot, TypeRole, TypeUser:
			return a, typ + " ARNs are in the iam service, not sts"
		}
	default:
		return a, "the service is not iam or sts"
	}
	return a, "the resource is not root, role/…, user/…, assumed-role/… or federated-user/…"
}

func badName(typ string) string {
	return fmt.Sprintf("the %s name (and any path segment) must be 1 to %d of [A-Za-z0-9+=,.@_-]", typ, maxNameLength)
}

func isName(s string) bool {
	if s == "" || len(s) > maxNameLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("+=,.@_-", c) >= 0) {
			return false
		}
	}
	return true
}

// String returns the ARN.
func (a ARN) String() string {
	prefix := "arn:" + a.Partition + ":" + a.Service + "::" + a.Account + ":"
	switch a.Type {
	case TypeRoot:
		return prefix + TypeRoot
	case TypeRole, TypeUser:
		path := a.Path
		if path == "" {
			path = "/"
		}
		return prefix + a.Type + path + a.Name
	case TypeAssumedRole:
		return prefix + a.Type + "/" + a.Name + "/" + a.Session
	}
	return prefix + a.Type + "/" + a.Name
}

// HasPath reports whether a is a role or user with an IAM path other than
// "/".
func (a ARN) HasPath() bool { return a.Path != "" && a.Path != "/" }

// withoutPath returns a with its IAM path removed.
func (a ARN) withoutPath() ARN {
	if a.Type == TypeRole || a.Type == TypeUser {
		a.Path = "/"
	}
	return a
}

// Root returns the ARN of the root of a's account, arn:<p>:iam::<account>:root.
func (a ARN) Root() string {
	return ARN{Partition: a.Partition, Service: "iam", Account: a.Account, Type: TypeRoot}.String()
}

// BaseRole returns the ARN of the IAM role behind a, without any path:
// arn:<p>:iam::<account>:role/<name> for an assumed-role session of that
// role or for the role itself. It returns false for other principals; an
// IAM user is not a role, whatever its name.
func (a ARN) BaseRole() (string, bool) {
	if a.Type != TypeAssumedRole && a.Type != TypeRole {
		return "", false
	}
	return ARN{Partition: a.Partition, Service: "iam", Account: a.Account, Type: TypeRole, Path: "/", Name: a.Name}.String(), true
}

// GrantCandidates returns the ARNs whose grants cover the principal a, most
// specific first: a itself; a without its IAM path, if it has one (IAM
// role and user names are unique in an account whatever their path, and
// grants are path-less, see ValidateGrantARN); for an assumed-role session,
// its base role; and the root of its account.
func (a ARN) GrantCandidates() []string {
	out := []string{a.String()}
	add := func(s string) {
		for _, o := range out {
			if o == s {
				return
			}
		}
		out = append(out, s)
	}
	if a.HasPath() {
		add(a.withoutPath().String())
	}
	if a.Type == TypeAssumedRole {
		role, _ := a.BaseRole()
		add(role)
	}
	add(a.Root())
	return out
}

// ValidateGrantARN checks an ARN named in an SDB permission. It must parse
// with ParseARN, be at most MaxGrantARNLength bytes of printable ASCII with
// no whitespace and no wildcard, and have no IAM path: STS reports
// assumed-role sessions without the role's path, so a grant on a role with
// a path could never match; the path-less ARN matches the role or user
// whatever its path.
//
// Returns a *cerberus.Error with code ECodeIAMARNInvalid and a message that
// says what is wrong and, where it can, what to grant instead.
func ValidateGrantARN(s string) error {
	invalid := func(format string, args ...any) error {
		return cerberus.Errorf(cerberus.ECodeIAMARNInvalid, "Invalid AWS IAM principal ARN: "+format, args...)
	}
	const forms = "Expected arn:aws:iam::<12-digit account>:role/<name>, arn:aws:iam::<account>:user/<name>, " +
		"arn:aws:sts::<account>:assumed-role/<role>/<session>, arn:aws:sts::<account>:federated-user/<name> " +
		"or arn:aws:iam::<account>:root (partition aws, aws-cn or aws-us-gov)."
	switch {
	case s == "":
		return invalid("it is empty. %s", forms)
	case len(s) > MaxGrantARNLength:
		return invalid("it is longer than %d bytes.", MaxGrantARNLength)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return invalid("%q holds whitespace, a control character or a non-ASCII character.", s)
		}
	}
	if strings.ContainsAny(s, "*?") {
		return invalid("%q holds a wildcard; wildcards are not supported. Grant an exact principal, a role "+
			"(covers all its sessions) or an account root (covers every principal of the account).", s)
	}
	a, why := parseARN(s)
	if why != "" {
		return invalid("%q: %s. %s", s, why, forms)
	}
	if a.HasPath() && a.Type == TypeRole {
		return invalid("%q has the IAM path %q. STS returns the sessions of a role without the role's path, "+
			"so a grant with a path could never match. Grant %q instead; it covers the role whatever its path.",
			s, a.Path, a.withoutPath().String())
	}
	if a.HasPath() {
		return invalid("%q has the IAM path %q. Grants hold no IAM paths, since STS returns role sessions "+
			"without them, and IAM user names are unique in an account. Grant %q instead; it covers the user "+
			"whatever its path.", s, a.Path, a.withoutPath().String())
	}
	return nil
}
