package service

import (
	"context"

	"github.com/cerberus-go/cerberus"
)

// IsSetUp reports whether a server has set up store: whether it holds the
// server keys that New creates on the first start. The admin commands,
// which must not create a store, refuse one that is not set up: it is most
// likely not the store the server uses.
func IsSetUp(ctx context.Context, store Store) (bool, error) {
	_, err := store.FindKey(ctx, keyTokenHMAC)
	switch {
	case err == nil:
		return true, nil
	case cerberus.Code(err) == cerberus.ECodeNotFound:
		return false, nil
	}
	return false, err
}
