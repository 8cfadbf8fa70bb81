package service

import (
	"context"
	"errors"
	"path"

	"github.com/cerberus-go/cerberus"
)

// ReadFile implements cerberus.FileService.
func (s *Service) ReadFile(ctx context.Context, p cerberus.SecretPath, versionID string, content bool) (*cerberus.SecureFile, error) {
	sdb, _, err := s.sdbForPath(ctx, p, "read file", cerberus.RoleName.CanRead)
	if err != nil {
		return nil, err
	}
	v, err := s.readValue(ctx, sdb, p, KindFile, versionID, content)
	if errors.Is(err, cerberus.ErrSecretNotFound) {
		return nil, errFileNotFound(p)
	} else if err != nil {
		return nil, err
	}
	f := fileOf(v.rec)
	f.Content, f.VersionInfo = v.plain, v.version
	return f, nil
}

func errFileNotFound(p cerberus.SecretPath) error {
	return cerberus.Errorf(cerberus.ECodeNotFound, "Not found: there is no file %s.", p)
}

// fileOf returns the metadata of the file record rec.
func fileOf(rec *SecretRecord) *cerberus.SecureFile {
	return &cerberus.SecureFile{
		SDBID:         rec.SDBID,
		Path:          rec.Path,
		Name:          path.Base(rec.Path),
		SizeBytes:     rec.SizeBytes,
		Version:       rec.Version,
		CreatedBy:     rec.CreatedBy,
		LastUpdatedBy: rec.LastUpdatedBy,
		CreatedAt:     rec.CreatedAt,
		LastUpdatedAt: rec.LastUpdatedAt,
	}
}

// WriteFile implements cerberus.FileService.
func (s *Service) WriteFile(ctx context.Context, p cerberus.SecretPath, read func() (cerberus.SecretData, error), opts cerberus.WriteOptions) error {
	sdb, pr, err := s.sdbForPath(ctx, p, "write file", cerberus.RoleName.CanWrite)
	if err != nil {
		return err
	}
	if p.Sub == "" {
		return cerberus.Errorf(cerberus.ECodeBadRequest, "Request will not be completed. A file needs a path inside the safe deposit box, ending with its name.")
	}
	content, err := read()
	if err != nil {
		return err
	}
	if len(content) > s.cfg.MaxFileSize {
		return cerberus.Errorf(cerberus.ECodeTooLarge, "The file is larger than the limit of %d bytes.", s.cfg.MaxFileSize)
	}
	return s.writeValue(ctx, sdb.ID, p.Stored(), KindFile, content.Reveal(), pr.Name, opts)
}

// DeleteFile implements cerberus.FileService.
func (s *Service) DeleteFile(ctx context.Context, p cerberus.SecretPath) error {
	sdb, pr, err := s.sdbForPath(ctx, p, "delete file", cerberus.RoleName.CanWrite)
	if err != nil {
		return err
	}
	if err := s.deleteValue(ctx, sdb.ID, p, KindFile, pr.Name); cerberus.Code(err) == cerberus.ECodeNotFound {
		return errFileNotFound(p)
	} else if err != nil {
		return err
	}
	return nil
}

// ListFiles implements cerberus.FileService.
func (s *Service) ListFiles(ctx context.Context, p cerberus.SecretPath, page cerberus.Page) (*cerberus.FilePage, error) {
	sdb, _, err := s.sdbForPath(ctx, p, "list files", cerberus.RoleName.CanRead)
	if err != nil {
		return nil, err
	}
	if page, err = checkPage(page); err != nil {
		return nil, err
	}
	recs, total, err := s.store.ListFiles(ctx, sdb.ID, folder(p), page.Limit, page.Offset)
	if err != nil {
		return nil, err
	}
	out := &cerberus.FilePage{Page: page, Total: total, Files: make([]*cerberus.SecureFile, 0, len(recs))}
	for _, r := range recs {
		out.Files = append(out.Files, fileOf(r))
	}
	return out, nil
}

// checkPage refuses a negative limit or offset and lowers a limit past
// cerberus.MaxPageLimit to it.
func checkPage(page cerberus.Page) (cerberus.Page, error) {
	if page.Limit < 0 || page.Offset < 0 {
		return page, cerberus.Errorf(cerberus.ECodeBadRequest, "Request will not be completed. The limit and the offset may not be negative.")
	}
	page.Limit = min(page.Limit, cerberus.MaxPageLimit)
	return page, nil
}
