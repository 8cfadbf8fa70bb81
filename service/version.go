package service

import (
	"context"
	"errors"
	"fmt"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/audit"
)

// ListVersions implements cerberus.VersionService.
func (s *Service) ListVersions(ctx context.Context, p cerberus.SecretPath, page cerberus.Page) (*cerberus.VersionPage, error) {
	sdb, _, err := s.sdbForPath(ctx, p, "list versions of", cerberus.RoleName.CanRead)
	if err != nil {
		return nil, err
	}
	if page, err = checkPage(page); err != nil {
		return nil, err
	}
	out := &cerberus.VersionPage{Page: page, Versions: []*cerberus.SecretVersion{}}
	if p.Sub != "" {
		// The live value is the first of the list, then the history.
		cur, err := s.readValue(ctx, sdb, p, "", cerberus.CurrentVersion, false)
		if err != nil && !errors.Is(err, cerberus.ErrSecretNotFound) {
			return nil, err
		}
		limit, offset := page.Limit, page.Offset
		if cur != nil {
			out.Total = 1
			if offset == 0 && limit > 0 {
				out.Versions = append(out.Versions, cur.version)
				limit--
			} else if offset > 0 {
				offset--
			}
		}
		recs, n, err := s.store.ListSecretVersions(ctx, sdb.ID, p.Stored(), limit, offset)
		if err != nil {
			return nil, err
		}
		out.Total += n
		for _, r := range recs {
			out.Versions = append(out.Versions, historyVersion(sdb, p, r))
		}
	}
	if out.Total == 0 {
		// The original answers a path without versions with a 400.
		return nil, cerberus.Errorf(cerberus.ECodeBadRequest, "Request will not be completed. There are no versions of %s.", p)
	}
	return out, nil
}

// ListVersionPaths implements cerberus.VersionService.
func (s *Service) ListVersionPaths(ctx context.Context, sdbID string) ([]string, error) {
	audit.FromContext(ctx).SetAction("list version paths")
	sdb, _, err := s.sdbFor(ctx, sdbID, false, cerberus.RoleName.CanRead)
	if err != nil {
		return nil, err
	}
	paths, err := s.store.ListVersionPaths(ctx, sdb.ID)
	if err != nil {
		return nil, err
	}
	for i, stored := range paths {
		paths[i] = fullPath(sdb, stored)
	}
	return paths, nil
}

// RestoreVersion implements cerberus.VersionService.
func (s *Service) RestoreVersion(ctx context.Context, p cerberus.SecretPath, versionID string) error {
	sdb, pr, err := s.sdbForPath(ctx, p, "restore version of", cerberus.RoleName.CanWrite)
	if err != nil {
		return err
	}
	return s.restore(ctx, sdb, p, versionID, pr.Name, cerberus.WriteOptions{})
}

// restore writes the history record versionID of p again as the live
// value, under the condition of opts.
func (s *Service) restore(ctx context.Context, sdb *cerberus.SDB, p cerberus.SecretPath, versionID, by string, opts cerberus.WriteOptions) error {
	if p.Sub == "" || versionID == "" || versionID == cerberus.CurrentVersion {
		return cerberus.ErrSecretNotFound
	}
	rec, err := s.store.FindSecretVersion(ctx, sdb.ID, p.Stored(), versionID)
	if cerberus.Code(err) == cerberus.ECodeNotFound {
		return cerberus.ErrSecretNotFound
	} else if err != nil {
		return err
	}
	plain, err := s.sealer.Open(ctx, rec.Ciphertext, secretAAD(rec.Kind, sdb.ID, rec.Path, rec.Version))
	if err != nil {
		audit.FromContext(ctx).SetReason("ciphertext does not open for its record")
		return fmt.Errorf("service: open %s version %d: %w", p, rec.Version, err)
	}
	audit.FromContext(ctx).SetReason(fmt.Sprintf("restored version %s (%d)", versionID, rec.Version))
	return s.writeValue(ctx, sdb.ID, p.Stored(), rec.Kind, plain, by, opts)
}

// Undelete implements cerberus.VersionService.
func (s *Service) Undelete(ctx context.Context, p cerberus.SecretPath) error {
	sdb, pr, err := s.sdbForPath(ctx, p, "undelete", cerberus.RoleName.CanWrite)
	if err != nil {
		return err
	}
	if p.Sub == "" {
		return cerberus.ErrSecretNotFound
	}
	if _, err := s.store.FindSecretInfo(ctx, sdb.ID, p.Stored()); err == nil {
		return cerberus.Errorf(cerberus.ECodeBadRequest, "Request will not be completed. %s has a live value: there is nothing to undelete.", p)
	} else if cerberus.Code(err) != cerberus.ECodeNotFound {
		return err
	}
	last, _, err := s.store.ListSecretVersions(ctx, sdb.ID, p.Stored(), 1, 0)
	if err != nil {
		return err
	}
	if len(last) == 0 {
		return cerberus.ErrSecretNotFound
	}
	// Only while the path is still deleted: a write meanwhile wins.
	none := int64(0)
	return s.restore(ctx, sdb, p, last[0].VersionID, pr.Name, cerberus.WriteOptions{IfVersion: &none})
}

// PruneVersions implements cerberus.VersionService.
func (s *Service) PruneVersions(ctx context.Context, p cerberus.SecretPath, keep int) (int, error) {
	sdb, _, err := s.sdbForPath(ctx, p, "prune versions of", isOwner)
	if err != nil {
		return 0, err
	}
	if keep < 0 {
		return 0, cerberus.Errorf(cerberus.ECodeBadRequest, "Request will not be completed. The number of versions to keep may not be negative.")
	}
	n, err := s.store.PruneSecretVersions(ctx, sdb.ID, p.Stored(), keep)
	if err != nil {
		return 0, err
	}
	audit.FromContext(ctx).SetReason(fmt.Sprintf("pruned %d versions, kept %d", n, keep))
	return int(n), nil
}
