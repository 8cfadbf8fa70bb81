package main

// The observers of the store and of the key-encryption key, which report
// each call to the metrics (--metrics-listen). The services and the store
// know nothing of metrics: these decorators sit between them, wired in
// openBackend.

import (
	"context"
	"time"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/envelope"
	"github.com/cerberus-go/cerberus/service"
)

// storeObserver receives the calls of a store: op is the name of the
// service.Store method. *metrics.Metrics implements it.
type storeObserver interface {
	ObserveStoreCall(op string, d time.Duration, err error)
}

// kekObserver receives the calls of a key-encryption key: kek names it
// ("awskms", "local"), op is "wrap" or "unwrap". *metrics.Metrics
// implements it.
type kekObserver interface {
	ObserveKMSCall(kek, op string, d time.Duration, err error)
}

// backendObserver observes what openBackend opens: the calls of the store
// and of the KEK, and the caches (AddCache: name and a function of its hits
// and misses). *metrics.Metrics implements it.
type backendObserver interface {
	storeObserver
	kekObserver
	AddCache(name string, stats func() (hits, misses uint64))
}

// meteredKEK reports the Wrap and Unwrap calls of an envelope.KEK.
type meteredKEK struct {
	envelope.KEK
	name string
	obs  kekObserver
}

var _ envelope.KEK = (*meteredKEK)(nil)

// Wrap implements envelope.KEK.
func (k *meteredKEK) Wrap(ctx context.Context, dataKey, aad []byte) (_ []byte, err error) {
	defer func(start time.Time) { k.obs.ObserveKMSCall(k.name, "wrap", time.Since(start), err) }(time.Now())
	return k.KEK.Wrap(ctx, dataKey, aad)
}

// Unwrap implements envelope.KEK.
func (k *meteredKEK) Unwrap(ctx context.Context, keyID string, wrapped, aad []byte) (_ []byte, err error) {
	defer func(start time.Time) { k.obs.ObserveKMSCall(k.name, "unwrap", time.Since(start), err) }(time.Now())
	return k.KEK.Unwrap(ctx, keyID, wrapped, aad)
}

// meteredStore reports every call of a service.Store. It declares each
// method of service.Store (TestMeteredStoreCoversStore checks it): the
// embedded Store only keeps a method added later working, unobserved,
// until it is declared here.
type meteredStore struct {
	service.Store
	obs storeObserver
}

var _ service.Store = (*meteredStore)(nil)

func (s *meteredStore) observe(op string, start time.Time, err *error) {
	s.obs.ObserveStoreCall(op, time.Since(start), *err)
}

// ListCategories implements service.Store.
func (s *meteredStore) ListCategories(ctx context.Context) (_ []*cerberus.Category, err error) {
	defer s.observe("ListCategories", time.Now(), &err)
	return s.Store.ListCategories(ctx)
}

// ListRoles implements service.Store.
func (s *meteredStore) ListRoles(ctx context.Context) (_ []*cerberus.Role, err error) {
	defer s.observe("ListRoles", time.Now(), &err)
	return s.Store.ListRoles(ctx)
}

// CreateCategory implements service.Store.
func (s *meteredStore) CreateCategory(ctx context.Context, c *cerberus.Category) (err error) {
	defer s.observe("CreateCategory", time.Now(), &err)
	return s.Store.CreateCategory(ctx, c)
}

// DeleteCategory implements service.Store.
func (s *meteredStore) DeleteCategory(ctx context.Context, id string) (err error) {
	defer s.observe("DeleteCategory", time.Now(), &err)
	return s.Store.DeleteCategory(ctx, id)
}

// CreateSDB implements service.Store.
func (s *meteredStore) CreateSDB(ctx context.Context, sdb *cerberus.SDB) (err error) {
	defer s.observe("CreateSDB", time.Now(), &err)
	return s.Store.CreateSDB(ctx, sdb)
}

// UpdateSDB implements service.Store.
func (s *meteredStore) UpdateSDB(ctx context.Context, sdb *cerberus.SDB) (err error) {
	defer s.observe("UpdateSDB", time.Now(), &err)
	return s.Store.UpdateSDB(ctx, sdb)
}

// DeleteSDB implements service.Store.
func (s *meteredStore) DeleteSDB(ctx context.Context, id string) (err error) {
	defer s.observe("DeleteSDB", time.Now(), &err)
	return s.Store.DeleteSDB(ctx, id)
}

// FindSDBByID implements service.Store.
func (s *meteredStore) FindSDBByID(ctx context.Context, id string) (_ *cerberus.SDB, err error) {
	defer s.observe("FindSDBByID", time.Now(), &err)
	return s.Store.FindSDBByID(ctx, id)
}

// FindSDBByPath implements service.Store.
func (s *meteredStore) FindSDBByPath(ctx context.Context, path string) (_ *cerberus.SDB, err error) {
	defer s.observe("FindSDBByPath", time.Now(), &err)
	return s.Store.FindSDBByPath(ctx, path)
}

// ListSDBs implements service.Store.
func (s *meteredStore) ListSDBs(ctx context.Context, name string, limit, offset int) (_ []*cerberus.SDB, _ int, err error) {
	defer s.observe("ListSDBs", time.Now(), &err)
	return s.Store.ListSDBs(ctx, name, limit, offset)
}

// RestoreSDB implements service.Store.
func (s *meteredStore) RestoreSDB(ctx context.Context, sdb *cerberus.SDB) (err error) {
	defer s.observe("RestoreSDB", time.Now(), &err)
	return s.Store.RestoreSDB(ctx, sdb)
}

// ListSDBSummaries implements service.Store.
func (s *meteredStore) ListSDBSummaries(ctx context.Context, groups, arns []string) (_ []*cerberus.SDBSummary, err error) {
	defer s.observe("ListSDBSummaries", time.Now(), &err)
	return s.Store.ListSDBSummaries(ctx, groups, arns)
}

// HasSDBGrant implements service.Store.
func (s *meteredStore) HasSDBGrant(ctx context.Context, groups, arns []string) (_ bool, err error) {
	defer s.observe("HasSDBGrant", time.Now(), &err)
	return s.Store.HasSDBGrant(ctx, groups, arns)
}

// CountSDBsCreatedBy implements service.Store.
func (s *meteredStore) CountSDBsCreatedBy(ctx context.Context, by string) (_ int, err error) {
	defer s.observe("CountSDBsCreatedBy", time.Now(), &err)
	return s.Store.CountSDBsCreatedBy(ctx, by)
}

// FindSecret implements service.Store.
func (s *meteredStore) FindSecret(ctx context.Context, sdbID, path string) (_ *service.SecretRecord, err error) {
	defer s.observe("FindSecret", time.Now(), &err)
	return s.Store.FindSecret(ctx, sdbID, path)
}

// FindSecretInfo implements service.Store.
func (s *meteredStore) FindSecretInfo(ctx context.Context, sdbID, path string) (_ *service.SecretRecord, err error) {
	defer s.observe("FindSecretInfo", time.Now(), &err)
	return s.Store.FindSecretInfo(ctx, sdbID, path)
}

// LastSecretVersion implements service.Store.
func (s *meteredStore) LastSecretVersion(ctx context.Context, sdbID, path string) (_ int64, err error) {
	defer s.observe("LastSecretVersion", time.Now(), &err)
	return s.Store.LastSecretVersion(ctx, sdbID, path)
}

// PutSecret implements service.Store.
func (s *meteredStore) PutSecret(ctx context.Context, rec *service.SecretRecord, prev int64) (err error) {
	defer s.observe("PutSecret", time.Now(), &err)
	return s.Store.PutSecret(ctx, rec, prev)
}

// DeleteSecret implements service.Store.
func (s *meteredStore) DeleteSecret(ctx context.Context, sdbID, path string, prev int64, by string, at time.Time) (err error) {
	defer s.observe("DeleteSecret", time.Now(), &err)
	return s.Store.DeleteSecret(ctx, sdbID, path, prev, by, at)
}

// ListSecretPaths implements service.Store.
func (s *meteredStore) ListSecretPaths(ctx context.Context, sdbID, prefix string, kind service.SecretKind) (_ []string, err error) {
	defer s.observe("ListSecretPaths", time.Now(), &err)
	return s.Store.ListSecretPaths(ctx, sdbID, prefix, kind)
}

// ListFiles implements service.Store.
func (s *meteredStore) ListFiles(ctx context.Context, sdbID, prefix string, limit, offset int) (_ []*service.SecretRecord, _ int, err error) {
	defer s.observe("ListFiles", time.Now(), &err)
	return s.Store.ListFiles(ctx, sdbID, prefix, limit, offset)
}

// ListSecretVersions implements service.Store.
func (s *meteredStore) ListSecretVersions(ctx context.Context, sdbID, path string, limit, offset int) (_ []*service.SecretRecord, _ int, err error) {
	defer s.observe("ListSecretVersions", time.Now(), &err)
	return s.Store.ListSecretVersions(ctx, sdbID, path, limit, offset)
}

// FindSecretVersion implements service.Store.
func (s *meteredStore) FindSecretVersion(ctx context.Context, sdbID, path, id string) (_ *service.SecretRecord, err error) {
	defer s.observe("FindSecretVersion", time.Now(), &err)
	return s.Store.FindSecretVersion(ctx, sdbID, path, id)
}

// ListVersionPaths implements service.Store.
func (s *meteredStore) ListVersionPaths(ctx context.Context, sdbID string) (_ []string, err error) {
	defer s.observe("ListVersionPaths", time.Now(), &err)
	return s.Store.ListVersionPaths(ctx, sdbID)
}

// PruneSecretVersions implements service.Store.
func (s *meteredStore) PruneSecretVersions(ctx context.Context, sdbID, path string, keep int) (_ int64, err error) {
	defer s.observe("PruneSecretVersions", time.Now(), &err)
	return s.Store.PruneSecretVersions(ctx, sdbID, path, keep)
}

// CreateUser implements service.Store.
func (s *meteredStore) CreateUser(ctx context.Context, u *service.User) (err error) {
	defer s.observe("CreateUser", time.Now(), &err)
	return s.Store.CreateUser(ctx, u)
}

// UpdateUser implements service.Store.
func (s *meteredStore) UpdateUser(ctx context.Context, u *service.User) (err error) {
	defer s.observe("UpdateUser", time.Now(), &err)
	return s.Store.UpdateUser(ctx, u)
}

// DeleteUser implements service.Store.
func (s *meteredStore) DeleteUser(ctx context.Context, name string) (err error) {
	defer s.observe("DeleteUser", time.Now(), &err)
	return s.Store.DeleteUser(ctx, name)
}

// FindUserByName implements service.Store.
func (s *meteredStore) FindUserByName(ctx context.Context, name string) (_ *service.User, err error) {
	defer s.observe("FindUserByName", time.Now(), &err)
	return s.Store.FindUserByName(ctx, name)
}

// ListUsers implements service.Store.
func (s *meteredStore) ListUsers(ctx context.Context) (_ []*service.User, err error) {
	defer s.observe("ListUsers", time.Now(), &err)
	return s.Store.ListUsers(ctx)
}

// AdvanceTOTPCounter implements service.Store.
func (s *meteredStore) AdvanceTOTPCounter(ctx context.Context, userID string, counter int64) (err error) {
	defer s.observe("AdvanceTOTPCounter", time.Now(), &err)
	return s.Store.AdvanceTOTPCounter(ctx, userID, counter)
}

// CreateToken implements service.Store.
func (s *meteredStore) CreateToken(ctx context.Context, t *service.TokenRecord) (err error) {
	defer s.observe("CreateToken", time.Now(), &err)
	return s.Store.CreateToken(ctx, t)
}

// FindTokenByHash implements service.Store.
func (s *meteredStore) FindTokenByHash(ctx context.Context, hash []byte) (_ *service.TokenRecord, err error) {
	defer s.observe("FindTokenByHash", time.Now(), &err)
	return s.Store.FindTokenByHash(ctx, hash)
}

// DeleteToken implements service.Store.
func (s *meteredStore) DeleteToken(ctx context.Context, id string) (err error) {
	defer s.observe("DeleteToken", time.Now(), &err)
	return s.Store.DeleteToken(ctx, id)
}

// DeleteExpiredTokens implements service.Store.
func (s *meteredStore) DeleteExpiredTokens(ctx context.Context, now time.Time) (_ int64, err error) {
	defer s.observe("DeleteExpiredTokens", time.Now(), &err)
	return s.Store.DeleteExpiredTokens(ctx, now)
}

// CountTokens implements service.Store.
func (s *meteredStore) CountTokens(ctx context.Context, now time.Time) (_ int64, err error) {
	defer s.observe("CountTokens", time.Now(), &err)
	return s.Store.CountTokens(ctx, now)
}

// PutNode implements service.Store.
func (s *meteredStore) PutNode(ctx context.Context, n *service.NodeRecord) (err error) {
	defer s.observe("PutNode", time.Now(), &err)
	return s.Store.PutNode(ctx, n)
}

// ListNodes implements service.Store.
func (s *meteredStore) ListNodes(ctx context.Context) (_ []*service.NodeRecord, err error) {
	defer s.observe("ListNodes", time.Now(), &err)
	return s.Store.ListNodes(ctx)
}

// DeleteNode implements service.Store.
func (s *meteredStore) DeleteNode(ctx context.Context, id string, staleBefore time.Time) (err error) {
	defer s.observe("DeleteNode", time.Now(), &err)
	return s.Store.DeleteNode(ctx, id, staleBefore)
}

// PutKeyIfAbsent implements service.Store.
func (s *meteredStore) PutKeyIfAbsent(ctx context.Context, name string, sealed []byte) (err error) {
	defer s.observe("PutKeyIfAbsent", time.Now(), &err)
	return s.Store.PutKeyIfAbsent(ctx, name, sealed)
}

// FindKey implements service.Store.
func (s *meteredStore) FindKey(ctx context.Context, name string) (_ []byte, err error) {
	defer s.observe("FindKey", time.Now(), &err)
	return s.Store.FindKey(ctx, name)
}

// ListSealed implements service.Store.
func (s *meteredStore) ListSealed(ctx context.Context, after service.SealedCursor, limit int) (_ []*service.SealedRecord, _ service.SealedCursor, err error) {
	defer s.observe("ListSealed", time.Now(), &err)
	return s.Store.ListSealed(ctx, after, limit)
}

// ReplaceSealed implements service.Store.
func (s *meteredStore) ReplaceSealed(ctx context.Context, rec *service.SealedRecord, newCiphertext []byte) (err error) {
	defer s.observe("ReplaceSealed", time.Now(), &err)
	return s.Store.ReplaceSealed(ctx, rec, newCiphertext)
}

// Export implements service.Store.
func (s *meteredStore) Export(ctx context.Context, fn func(table string, row []any) error) (err error) {
	defer s.observe("Export", time.Now(), &err)
	return s.Store.Export(ctx, fn)
}

// Import implements service.Store.
func (s *meteredStore) Import(ctx context.Context, next func() (table string, row []any, err error)) (err error) {
	defer s.observe("Import", time.Now(), &err)
	return s.Store.Import(ctx, next)
}
