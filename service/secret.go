package service

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/audit"
)

// writeAttempts bounds the retries of a secret write that lost a race
// with a write on another node; writes on one node queue on writeLocks.
const writeAttempts = 10

// writeLocks serializes the writes of one secret within this node, so that
// the writers of a hot secret queue instead of conflicting: last write wins,
// as in the original. Keys share one of len(writeLocks) stripes.
type writeLocks [64]sync.Mutex

func (w *writeLocks) lock(sdbID, path string) (unlock func()) {
	h := fnv.New32a()
	h.Write([]byte(sdbID))
	h.Write([]byte{0})
	h.Write([]byte(path))
	m := &w[h.Sum32()%uint32(len(w))]
	m.Lock()
	return m.Unlock
}

// retryConflict runs op until it does not report ECodeConflict, at most
// writeAttempts times, waiting a little longer, with jitter, each time.
func retryConflict(ctx context.Context, op func() error) error {
	for attempt := 1; ; attempt++ {
		err := op()
		if cerberus.Code(err) != cerberus.ECodeConflict || attempt == writeAttempts {
			return err
		}
		wait := time.Duration(attempt)*time.Millisecond + rand.N(time.Duration(attempt)*time.Millisecond)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// secretAAD binds a ciphertext to its record: kind, SDB, stored path and
// version. A ciphertext copied to any other record fails to open.
func secretAAD(kind SecretKind, sdbID, path string, version int64) []byte {
	var b strings.Builder
	b.WriteString("cerberus:secret:v1\x00")
	b.WriteString(string(kind))
	b.WriteByte(0)
	b.WriteString(sdbID)
	b.WriteByte(0)
	b.WriteString(path)
	b.WriteByte(0)
	b.WriteString(strconv.FormatInt(version, 10))
	return []byte(b.String())
}

// sdbForPath resolves the SDB of p and checks that the caller's role on it
// satisfies ok. action names what the caller does, for the audit event
// ("read secret"). Admins get no bypass for secrets and files.
func (s *Service) sdbForPath(ctx context.Context, p cerberus.SecretPath, action string, ok func(cerberus.RoleName) bool) (*cerberus.SDB, *cerberus.Principal, error) {
	pr, err := principal(ctx)
	if err != nil {
		return nil, nil, err
	}
	ev := audit.FromContext(ctx)
	ev.SetAction(action + " " + p.String())
	sdb, err := s.store.FindSDBByPath(ctx, p.SDBPath())
	if cerberus.Code(err) == cerberus.ECodeNotFound {
		ev.SetReason("no such sdb")
		return nil, nil, cerberus.Errorf(cerberus.ECodeNotFound, "Not found: there is no SDB with the path %s.", p.SDBPath())
	} else if err != nil {
		return nil, nil, err
	}
	ev.SetSDB(sdb.ID)
	role, has := s.roleOn(pr, sdb)
	if !has || !ok(role) {
		ev.SetReason(fmt.Sprintf("%s %q has role %q on sdb %s", pr.Type, pr.Name, role, sdb.Path))
		return nil, nil, errAccessDenied()
	}
	return sdb, pr, nil
}

// value is a value read at a path: its record (without ciphertext when
// only metadata was asked for), its plaintext, and, for a version of the
// history, what describes it.
type value struct {
	rec     *SecretRecord
	plain   []byte
	version *cerberus.SecretVersion
}

// readValue reads the value of kind at p in sdb: the live one for versionID
// "" or CurrentVersion, else the history record versionID, which must be of
// kind (any kind if kind is ""). It opens the ciphertext only if open is
// true. Returns ErrSecretNotFound if there is no such value.
func (s *Service) readValue(ctx context.Context, sdb *cerberus.SDB, p cerberus.SecretPath, kind SecretKind, versionID string, open bool) (*value, error) {
	if p.Sub == "" {
		return nil, cerberus.ErrSecretNotFound
	}
	var rec *SecretRecord
	var err error
	current := versionID == "" || versionID == cerberus.CurrentVersion
	switch {
	case current && open:
		rec, err = s.store.FindSecret(ctx, sdb.ID, p.Stored())
	case current:
		rec, err = s.store.FindSecretInfo(ctx, sdb.ID, p.Stored())
	default:
		rec, err = s.store.FindSecretVersion(ctx, sdb.ID, p.Stored(), versionID)
	}
	if cerberus.Code(err) == cerberus.ECodeNotFound || (err == nil && kind != "" && rec.Kind != kind) {
		return nil, cerberus.ErrSecretNotFound
	} else if err != nil {
		return nil, err
	}
	v := &value{rec: rec}
	switch {
	case versionID == cerberus.CurrentVersion:
		v.version = currentVersion(sdb, p, rec)
	case !current:
		v.version = historyVersion(sdb, p, rec)
	}
	if open {
		v.plain, err = s.sealer.Open(ctx, rec.Ciphertext, secretAAD(rec.Kind, rec.SDBID, rec.Path, rec.Version))
		if err != nil {
			audit.FromContext(ctx).SetReason("ciphertext does not open for its record")
			return nil, fmt.Errorf("service: open %s version %d: %w", p, rec.Version, err)
		}
	}
	rec.Ciphertext = nil
	return v, nil
}

// fullPath returns "<category>/<stored path>" for a stored path of sdb.
func fullPath(sdb *cerberus.SDB, stored string) string {
	cat, _, _ := strings.Cut(sdb.Path, "/")
	return cat + "/" + stored
}

// currentVersion describes the live value rec at p as the pseudo-version
// CURRENT: created if it was never replaced, updated otherwise.
func currentVersion(sdb *cerberus.SDB, p cerberus.SecretPath, rec *SecretRecord) *cerberus.SecretVersion {
	action := cerberus.ActionUpdate
	if rec.CreatedAt.Equal(rec.LastUpdatedAt) {
		action = cerberus.ActionCreate
	}
	return &cerberus.SecretVersion{
		ID: cerberus.CurrentVersion, SDBID: sdb.ID, Path: fullPath(sdb, p.Stored()), Action: action,
		Type: string(rec.Kind), SizeBytes: rec.SizeBytes,
		VersionCreatedBy: rec.LastUpdatedBy, VersionCreatedAt: rec.LastUpdatedAt,
		ActionBy: rec.LastUpdatedBy, ActionAt: rec.LastUpdatedAt,
	}
}

// historyVersion describes the history record rec at p.
func historyVersion(sdb *cerberus.SDB, p cerberus.SecretPath, rec *SecretRecord) *cerberus.SecretVersion {
	return &cerberus.SecretVersion{
		ID: rec.VersionID, SDBID: sdb.ID, Path: fullPath(sdb, p.Stored()), Action: rec.Action,
		Type: string(rec.Kind), SizeBytes: rec.SizeBytes,
		VersionCreatedBy: rec.CreatedBy, VersionCreatedAt: rec.CreatedAt,
		ActionBy: rec.ActionBy, ActionAt: rec.ActionAt,
	}
}

// ReadSecret implements cerberus.SecretService.
func (s *Service) ReadSecret(ctx context.Context, p cerberus.SecretPath, versionID string) (*cerberus.Secret, error) {
	sdb, _, err := s.sdbForPath(ctx, p, "read secret", cerberus.RoleName.CanRead)
	if err != nil {
		return nil, err
	}
	v, err := s.readValue(ctx, sdb, p, KindObject, versionID, true)
	if err != nil {
		return nil, err
	}
	return &cerberus.Secret{
		Data:          cerberus.SecretData(v.plain),
		Version:       v.rec.Version,
		CreatedBy:     v.rec.CreatedBy,
		LastUpdatedBy: v.rec.LastUpdatedBy,
		CreatedAt:     v.rec.CreatedAt,
		LastUpdatedAt: v.rec.LastUpdatedAt,
		VersionInfo:   v.version,
	}, nil
}

// ListSecrets implements cerberus.SecretService.
func (s *Service) ListSecrets(ctx context.Context, p cerberus.SecretPath) ([]string, error) {
	sdb, _, err := s.sdbForPath(ctx, p, "list secrets", cerberus.RoleName.CanRead)
	if err != nil {
		return nil, err
	}
	prefix := folder(p)
	paths, err := s.store.ListSecretPaths(ctx, sdb.ID, prefix, KindObject)
	if err != nil {
		return nil, err
	}
	keys := []string{}
	for _, path := range paths {
		rest := strings.TrimPrefix(path, prefix)
		if dir, _, ok := strings.Cut(rest, "/"); ok {
			rest = dir + "/"
		}
		if rest != "" {
			keys = append(keys, rest)
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys), nil
}

// folder returns the stored prefix of the values under the folder p.
func folder(p cerberus.SecretPath) string {
	if p.Sub == "" {
		return p.Stored()
	}
	return p.Stored() + "/"
}

// WriteSecret implements cerberus.SecretService.
func (s *Service) WriteSecret(ctx context.Context, p cerberus.SecretPath, data cerberus.SecretData, opts cerberus.WriteOptions) error {
	sdb, pr, err := s.sdbForPath(ctx, p, "write secret", cerberus.RoleName.CanWrite)
	if err != nil {
		return err
	}
	if p.Sub == "" {
		return cerberus.Errorf(cerberus.ECodeBadRequest, "Request will not be completed. A secret needs a path inside the safe deposit box.")
	}
	if _, err := cerberus.ParseSecretBody(data.Reveal(), s.cfg.MaxSecretSize, s.cfg.SecretBodies); err != nil {
		return err
	}
	return s.writeValue(ctx, sdb.ID, p.Stored(), KindObject, data.Reveal(), pr.Name, opts)
}

// writeValue stores data as the live value of kind at (sdbID, path),
// written by by, under the condition of opts.
func (s *Service) writeValue(ctx context.Context, sdbID, path string, kind SecretKind, data []byte, by string, opts cerberus.WriteOptions) error {
	defer s.writeLocks.lock(sdbID, path)()
	return retryConflict(ctx, func() error { return s.writeOnce(ctx, sdbID, path, kind, data, by, opts) })
}

func (s *Service) writeOnce(ctx context.Context, sdbID, path string, kind SecretKind, data []byte, by string, opts cerberus.WriteOptions) error {
	var prev int64
	cur, err := s.store.FindSecretInfo(ctx, sdbID, path)
	switch {
	case err == nil && cur.Kind != kind:
		return errWrongKind(path, cur.Kind)
	case err == nil:
		prev = cur.Version
	case cerberus.Code(err) != cerberus.ECodeNotFound:
		return err
	}
	if opts.IfVersion != nil && *opts.IfVersion != prev {
		audit.FromContext(ctx).SetReason(fmt.Sprintf("check-and-set expected version %d, the live version is %d", *opts.IfVersion, prev))
		return cerberus.Errorf(cerberus.ECodeVersionMismatch, "The value at %s is at version %d, not %d: another write came first. Read it again before writing.", path, prev, *opts.IfVersion)
	}
	next := prev + 1
	if prev == 0 {
		// A path written again after a delete goes on from its history, so
		// that no two of its versions share associated data.
		last, err := s.store.LastSecretVersion(ctx, sdbID, path)
		if err != nil {
			return err
		}
		next = last + 1
	}
	now := s.now()
	rec := &SecretRecord{
		SDBID:         sdbID,
		Path:          path,
		Kind:          kind,
		Version:       next,
		SizeBytes:     len(data),
		CreatedBy:     by,
		LastUpdatedBy: by,
		CreatedAt:     now,
		LastUpdatedAt: now,
	}
	rec.Ciphertext, err = s.sealer.Seal(ctx, data, secretAAD(rec.Kind, sdbID, path, rec.Version))
	if err != nil {
		return fmt.Errorf("service: seal %s: %w", kind, err)
	}
	return s.store.PutSecret(ctx, rec, prev)
}

func errWrongKind(path string, holds SecretKind) error {
	if holds == KindFile {
		return cerberus.Errorf(cerberus.ECodeInvalidSecureType, "The path %s holds a file; a secret cannot replace it.", path)
	}
	return cerberus.Errorf(cerberus.ECodeInvalidSecureType, "The path %s holds a secret; a file cannot replace it.", path)
}

// DeleteSecret implements cerberus.SecretService.
func (s *Service) DeleteSecret(ctx context.Context, p cerberus.SecretPath) error {
	sdb, pr, err := s.sdbForPath(ctx, p, "delete secret", cerberus.RoleName.CanWrite)
	if err != nil {
		return err
	}
	return s.deleteValue(ctx, sdb.ID, p, KindObject, pr.Name)
}

// deleteValue deletes the live value of kind at p. Returns ECodeNotFound
// if there is none.
func (s *Service) deleteValue(ctx context.Context, sdbID string, p cerberus.SecretPath, kind SecretKind, by string) error {
	notFound := cerberus.Errorf(cerberus.ECodeNotFound, "Not found")
	if p.Sub == "" {
		return notFound
	}
	defer s.writeLocks.lock(sdbID, p.Stored())()
	return retryConflict(ctx, func() error {
		cur, err := s.store.FindSecretInfo(ctx, sdbID, p.Stored())
		if cerberus.Code(err) == cerberus.ECodeNotFound || (err == nil && cur.Kind != kind) {
			return notFound
		} else if err != nil {
			return err
		}
		return s.store.DeleteSecret(ctx, sdbID, p.Stored(), cur.Version, by, s.now())
	})
}
