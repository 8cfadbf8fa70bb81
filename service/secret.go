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
// satisfies ok. Admins get no bypass for secrets.
func (s *Service) sdbForPath(ctx context.Context, p cerberus.SecretPath, verb string, ok func(cerberus.RoleName) bool) (*cerberus.SDB, *cerberus.Principal, error) {
	pr, err := principal(ctx)
	if err != nil {
		return nil, nil, err
	}
	ev := audit.FromContext(ctx)
	ev.SetAction(fmt.Sprintf("%s secret %s", verb, p))
	sdb, err := s.store.FindSDBByPath(ctx, p.SDBPath())
	if cerberus.Code(err) == cerberus.ECodeNotFound {
		ev.SetReason("no such sdb")
		return nil, nil, cerberus.Errorf(cerberus.ECodeNotFound, "Not found The SDB for the path: %s was not found.", p.SDBPath())
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

// ReadSecret implements cerberus.SecretService.
func (s *Service) ReadSecret(ctx context.Context, p cerberus.SecretPath) (*cerberus.Secret, error) {
	sdb, _, err := s.sdbForPath(ctx, p, "read", cerberus.RoleName.CanRead)
	if err != nil {
		return nil, err
	}
	if p.Sub == "" {
		return nil, cerberus.ErrSecretNotFound
	}
	rec, err := s.store.FindSecret(ctx, sdb.ID, p.Stored())
	if cerberus.Code(err) == cerberus.ECodeNotFound || (err == nil && rec.Kind != KindObject) {
		return nil, cerberus.ErrSecretNotFound
	} else if err != nil {
		return nil, err
	}
	pt, err := s.sealer.Open(ctx, rec.Ciphertext, secretAAD(rec.Kind, rec.SDBID, rec.Path, rec.Version))
	if err != nil {
		audit.FromContext(ctx).SetReason("ciphertext does not open for its record")
		return nil, fmt.Errorf("service: open secret %s version %d: %w", p, rec.Version, err)
	}
	return &cerberus.Secret{
		Data:          cerberus.SecretData(pt),
		Version:       rec.Version,
		CreatedBy:     rec.CreatedBy,
		LastUpdatedBy: rec.LastUpdatedBy,
		CreatedAt:     rec.CreatedAt,
		LastUpdatedAt: rec.LastUpdatedAt,
	}, nil
}

// ListSecrets implements cerberus.SecretService.
func (s *Service) ListSecrets(ctx context.Context, p cerberus.SecretPath) ([]string, error) {
	sdb, _, err := s.sdbForPath(ctx, p, "list", cerberus.RoleName.CanRead)
	if err != nil {
		return nil, err
	}
	prefix := p.Stored()
	if p.Sub != "" {
		prefix += "/"
	}
	paths, err := s.store.ListSecretPaths(ctx, sdb.ID, prefix)
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

// WriteSecret implements cerberus.SecretService.
func (s *Service) WriteSecret(ctx context.Context, p cerberus.SecretPath, data cerberus.SecretData) error {
	sdb, pr, err := s.sdbForPath(ctx, p, "write", cerberus.RoleName.CanWrite)
	if err != nil {
		return err
	}
	if p.Sub == "" {
		return cerberus.Errorf(cerberus.ECodeBadRequest, "Request will not be completed. A secret needs a path inside the safe deposit box.")
	}
	if _, err := cerberus.ParseSecretBody(data.Reveal(), s.cfg.MaxSecretSize); err != nil {
		return err
	}
	defer s.writeLocks.lock(sdb.ID, p.Stored())()
	return retryConflict(ctx, func() error { return s.writeOnce(ctx, sdb.ID, p.Stored(), data, pr.Name) })
}

func (s *Service) writeOnce(ctx context.Context, sdbID, path string, data cerberus.SecretData, by string) error {
	var prev int64
	cur, err := s.store.FindSecret(ctx, sdbID, path)
	switch {
	case err == nil && cur.Kind != KindObject:
		return cerberus.Errorf(cerberus.ECodeInvalidSecureType, "The path %s holds a file; a secret cannot replace it.", path)
	case err == nil:
		prev = cur.Version
	case cerberus.Code(err) != cerberus.ECodeNotFound:
		return err
	}
	now := s.now()
	rec := &SecretRecord{
		SDBID:         sdbID,
		Path:          path,
		Kind:          KindObject,
		Version:       prev + 1,
		SizeBytes:     len(data),
		CreatedBy:     by,
		LastUpdatedBy: by,
		CreatedAt:     now,
		LastUpdatedAt: now,
	}
	rec.Ciphertext, err = s.sealer.Seal(ctx, data.Reveal(), secretAAD(rec.Kind, sdbID, path, rec.Version))
	if err != nil {
		return fmt.Errorf("service: seal secret: %w", err)
	}
	return s.store.PutSecret(ctx, rec, prev)
}

// DeleteSecret implements cerberus.SecretService.
func (s *Service) DeleteSecret(ctx context.Context, p cerberus.SecretPath) error {
	sdb, pr, err := s.sdbForPath(ctx, p, "delete", cerberus.RoleName.CanWrite)
	if err != nil {
		return err
	}
	notFound := cerberus.Errorf(cerberus.ECodeNotFound, "Not found")
	if p.Sub == "" {
		return notFound
	}
	defer s.writeLocks.lock(sdb.ID, p.Stored())()
	return retryConflict(ctx, func() error {
		cur, err := s.store.FindSecret(ctx, sdb.ID, p.Stored())
		if cerberus.Code(err) == cerberus.ECodeNotFound || (err == nil && cur.Kind != KindObject) {
			return notFound
		} else if err != nil {
			return err
		}
		return s.store.DeleteSecret(ctx, sdb.ID, p.Stored(), cur.Version, pr.Name, s.now())
	})
}
