package service

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/time/rate"

	"github.com/cerberus-go/cerberus"
)

// KeyNamer is what Rewrap and KeyUsage need of the Sealer besides sealing:
// the id of the key it wraps data keys under now, and the id of the key a
// ciphertext's data key was wrapped under, read from the ciphertext's
// header. *envelope.Envelope implements it.
type KeyNamer interface {
	KeyID() string
	KeyIDOf(ciphertext []byte) (string, error)
}

// RewrapOptions tunes Rewrap.
type RewrapOptions struct {
	// Rate bounds how many records are re-wrapped per second (each costs
	// an unwrap and a wrap by the KEK, and a write); records already under
	// the primary key cost a read only and are not counted against it.
	// Zero or less means no bound.
	Rate rate.Limit
	// BatchSize is how many records are read at a time; zero or less
	// means 100.
	BatchSize int
	// Progress, if not nil, is called with the counts so far after each
	// batch, and once more when the walk ends.
	Progress func(RewrapReport)
}

// RewrapReport counts what Rewrap did.
type RewrapReport struct {
	// KeyID is the primary key that records were re-wrapped under.
	KeyID string
	// Seen counts the records read.
	Seen int
	// Rewrapped counts the records whose data key was re-wrapped.
	Rewrapped int
	// AlreadyCurrent counts the records whose data key was wrapped by the
	// primary key already.
	AlreadyCurrent int
	// Changed counts the records that a write changed or deleted between
	// their reading and their re-wrapping, so that they were left alone:
	// the write made a fresh ciphertext, under the key of the node that
	// made it.
	Changed int
	// Failed counts the records that could not be re-wrapped: their
	// ciphertext is malformed or does not open for its record. They are
	// logged, and Rewrap returns an error when it is done.
	Failed int
}

// Rewrap re-wraps the data key of every stored ciphertext (secrets, their
// history, TOTP seeds and server keys) that was wrapped by another key than
// the KEK's primary one, which is the key rotation of the issue "keys
// rotate". It works online: a record is opened and sealed again, with the
// same associated data, under the primary key, and stored only if it still
// holds the ciphertext that was read (ReplaceSealed), so that a concurrent
// write is never undone; every ciphertext, old or new, keeps opening
// meanwhile as long as the KEK still holds the old keys. It is idempotent,
// and so resumable: records under the primary key are skipped after a
// look at their header, so that a run that was stopped (ctx canceled, a
// crash) and started again only re-reads what the first one did.
//
// The Sealer must implement KeyNamer. Rewrap returns the report so far with
// ctx's error if ctx ends, and with an error if records failed.
func (s *Service) Rewrap(ctx context.Context, opts RewrapOptions) (RewrapReport, error) {
	var rep RewrapReport
	kn, ok := s.sealer.(KeyNamer)
	if !ok {
		return rep, errors.New("service: rewrap: the sealer does not name its keys")
	}
	batch := opts.BatchSize
	if batch <= 0 {
		batch = 100
	}
	limit := opts.Rate
	if limit <= 0 {
		limit = rate.Inf
	}
	lim := rate.NewLimiter(limit, 1)
	progress := func() {
		if opts.Progress != nil {
			opts.Progress(rep)
		}
	}
	rep.KeyID = kn.KeyID()
	failedInARow := 0
	var cur SealedCursor
	for {
		recs, next, err := s.store.ListSealed(ctx, cur, batch)
		if err != nil {
			return rep, fmt.Errorf("service: rewrap: list records: %w", err)
		}
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			rep.Seen++
			primary := kn.KeyID()
			rep.KeyID = primary
			id, err := kn.KeyIDOf(r.Ciphertext)
			if err != nil {
				rep.Failed++
				s.cfg.Logger.Error("rewrap: malformed ciphertext", "record", r.describe(), "err", err)
				continue
			}
			if id == primary {
				rep.AlreadyCurrent++
				continue
			}
			if err := lim.Wait(ctx); err != nil {
				return rep, err
			}
			switch err := s.rewrapOne(ctx, r); {
			case err == nil:
				rep.Rewrapped++
				failedInARow = 0
			case cerberus.Code(err) == cerberus.ECodeConflict:
				rep.Changed++
			case ctx.Err() != nil:
				return rep, ctx.Err()
			case cerberus.Code(err) == cerberus.ECodeUnavailable:
				return rep, fmt.Errorf("service: rewrap %s: %w", r.describe(), err)
			default:
				rep.Failed++
				s.cfg.Logger.Error("rewrap: record not re-wrapped", "record", r.describe(), "key", id, "err", err)
				if failedInARow++; failedInARow == maxFailedInARow {
					return rep, fmt.Errorf("service: rewrap: stopped after %d records in a row failed (can the KEK be reached?); the last: %s: %w",
						failedInARow, r.describe(), err)
				}
			}
		}
		cur = next
		progress()
		if err := ctx.Err(); err != nil {
			return rep, err
		}
	}
	progress()
	if rep.Failed > 0 {
		return rep, fmt.Errorf("service: rewrap: %d records could not be re-wrapped; the log names them", rep.Failed)
	}
	return rep, nil
}

// maxFailedInARow is how many records in a row may fail to re-wrap
// before Rewrap stops: as many failures tell of a KEK that cannot be
// reached rather than of damaged records.
const maxFailedInARow = 20

// rewrapOne opens r with its associated data, seals it again under the
// primary key and stores it in place of the old ciphertext.
func (s *Service) rewrapOne(ctx context.Context, r *SealedRecord) error {
	aad, err := sealedAAD(r)
	if err != nil {
		return err
	}
	pt, err := s.sealer.Open(ctx, r.Ciphertext, aad)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer clear(pt)
	fresh, err := s.sealer.Seal(ctx, pt, aad)
	if err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	return s.store.ReplaceSealed(ctx, r, fresh)
}

// sealedAAD returns the associated data that r's ciphertext was sealed
// with: as WriteSecret, AddUser and serverKey build it.
func sealedAAD(r *SealedRecord) ([]byte, error) {
	switch r.Kind {
	case SealedSecret, SealedSecretVersion:
		return secretAAD(r.SecretKind, r.SDBID, r.Path, r.Version), nil
	case SealedUserTOTP:
		return totpAAD(r.UserID), nil
	case SealedServerKey:
		return []byte("cerberus:server-key:" + r.Name), nil
	}
	return nil, fmt.Errorf("unknown kind of sealed record %q", r.Kind)
}

// describe names r for a log line; it holds no secret.
func (r *SealedRecord) describe() string {
	switch r.Kind {
	case SealedSecret:
		return fmt.Sprintf("secret sdb=%s path=%s version=%d", r.SDBID, strconv.Quote(r.Path), r.Version)
	case SealedSecretVersion:
		return fmt.Sprintf("secret history record %s (sdb=%s path=%s version=%d)", r.VersionID, r.SDBID, strconv.Quote(r.Path), r.Version)
	case SealedUserTOTP:
		return "TOTP seed of user " + r.UserID
	case SealedServerKey:
		return "server key " + r.Name
	}
	return "record of kind " + strconv.Quote(string(r.Kind))
}

// KeyUsage counts the stored ciphertexts by the key that wrapped their
// data key.
type KeyUsage struct {
	// Primary is the KEK's primary key.
	Primary string
	// Records counts the ciphertexts by key id, then by kind.
	Records map[string]map[SealedKind]int
	// Malformed counts the ciphertexts whose header cannot be read.
	Malformed int
}

// Total returns the number of ciphertexts wrapped by key id.
func (u *KeyUsage) Total(id string) int {
	n := 0
	for _, c := range u.Records[id] {
		n += c
	}
	return n
}

// KeyUsage reads the header of every stored ciphertext and counts them by
// the key that wrapped their data key, so that the operator can tell when
// no record needs an old key any more. The Sealer must implement KeyNamer.
func (s *Service) KeyUsage(ctx context.Context) (*KeyUsage, error) {
	kn, ok := s.sealer.(KeyNamer)
	if !ok {
		return nil, errors.New("service: key usage: the sealer does not name its keys")
	}
	u := &KeyUsage{Primary: kn.KeyID(), Records: map[string]map[SealedKind]int{}}
	var cur SealedCursor
	for {
		recs, next, err := s.store.ListSealed(ctx, cur, 500)
		if err != nil {
			return nil, fmt.Errorf("service: key usage: list records: %w", err)
		}
		if len(recs) == 0 {
			return u, nil
		}
		for _, r := range recs {
			id, err := kn.KeyIDOf(r.Ciphertext)
			if err != nil {
				u.Malformed++
				continue
			}
			if u.Records[id] == nil {
				u.Records[id] = map[SealedKind]int{}
			}
			u.Records[id][r.Kind]++
		}
		cur = next
	}
}
