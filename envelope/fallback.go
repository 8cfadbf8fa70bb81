package envelope

import (
	"context"
	"errors"
)

// Fallback returns a KEK that wraps with primary and unwraps with the first
// of primary and others that knows the key: a key whose Unwrap fails with
// ErrUnknownKey passes the call to the next one. It lets a store move from
// one KEK to another — from the local key ring to AWS KMS, say — while the
// records wrapped by the old one are still being re-wrapped.
func Fallback(primary KEK, others ...KEK) KEK {
	return &fallback{keks: append([]KEK{primary}, others...)}
}

type fallback struct {
	keks []KEK
}

func (f *fallback) KeyID() string { return f.keks[0].KeyID() }

func (f *fallback) Wrap(ctx context.Context, dataKey, aad []byte) ([]byte, error) {
	return f.keks[0].Wrap(ctx, dataKey, aad)
}

func (f *fallback) Unwrap(ctx context.Context, keyID string, wrapped, aad []byte) ([]byte, error) {
	var err error
	for _, k := range f.keks {
		var dk []byte
		dk, err = k.Unwrap(ctx, keyID, wrapped, aad)
		if !errors.Is(err, ErrUnknownKey) {
			return dk, err
		}
	}
	return nil, err
}
