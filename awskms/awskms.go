// Package awskms implements a key-encryption key of Cerberus on AWS Key
// Management Service (KMS). A KEK holds one or more symmetric KMS keys
// (customer master keys, CMKs), usually one in each of several regions. Wrap
// encrypts a data key under every configured CMK with the KMS Encrypt call,
// so that any one region can unwrap it; Unwrap asks the local region first
// and falls back to the others, so that a region that fails or hangs does
// not fail a read.
//
// # Key id
//
// KeyID returns "awskms:" followed by the first 16 hexadecimal digits of the
// SHA-256 of the configured key ARNs, sorted and joined with newlines. It
// names the key set, not one key: adding or removing a CMK changes it.
// Unwrap does not need the id to match. It reads the ARNs recorded in the
// wrapped key and uses those that are still configured, so that ciphertexts
// wrapped under an earlier key set stay readable while one of their CMKs is
// configured. An id that does not start with "awskms:", or a wrapped key
// none of whose CMKs is configured, is an unknown key.
//
// # Wrapped key format
//
// Version 1, the only version, is laid out as follows; integers are
// big-endian.
//
//	offset  size  field
//	0       1     version, 0x01
//	1       1     n, the number of entries, 1 to 16
//	2       ...   n entries, each:
//	              1  a, length of the key ARN, 1 to 255
//	              a  key ARN of the CMK, as configured
//	              2  c, length of the KMS ciphertext, 1 to 1024
//	              c  CiphertextBlob returned by KMS Encrypt for that CMK
//
// Entries are in the order of Config.KeyARNs, no ARN appears twice, nothing
// follows the last entry, and the whole is at most
// envelope.MaxWrappedKeySize (1024) bytes. A KMS ciphertext of a 32-byte key
// is about 184 bytes, which is why a KEK holds at most MaxKeys CMKs.
//
// # Encryption context
//
// Every Encrypt and Decrypt call carries a KMS encryption context derived
// from the caller's aad, so that KMS itself refuses to unwrap a data key for
// another record, and CloudTrail records which record was decrypted. The aad
// is split at its NUL bytes into fields; the first field is the value of the
// key "cerberus", the following ones the values of the keys "1", "2", and
// so on. The secret aad "cerberus:secret:v1\x00file\x00<sdb>\x00<path>\x005"
// thus becomes
//
//	{"cerberus": "cerberus:secret:v1", "1": "file", "2": "<sdb>", "3": "<path>", "4": "5"}
//
// and the aad "cerberus:server-key:<name>" becomes {"cerberus":
// "cerberus:server-key:<name>"}. If a field is empty or is not valid UTF-8,
// the context is instead {"aad": <the aad in unpadded base64url>}; an empty
// aad sends no context. Two different aads never give the same context.
// EncryptionContext returns the context of an aad, for example to write a
// key policy condition.
//
// # Trust model
//
// Whoever may call kms:Decrypt on one of the configured CMKs, with the
// encryption context of a record, can read that record; confidentiality
// rests on the key policies and IAM policies of every configured CMK. The
// database is not trusted: a changed wrapped key fails authentication in
// KMS, and one moved to another record fails because the encryption context
// differs. A data key passes through the AWS SDK's request and response
// buffers, which this package cannot zero.
//
// # Compatibility
//
// Wrapped keys written by Wrap stay readable by every later version of this
// package: a new format gets a new version byte. The derivation of the
// encryption context is part of the format and never changes for version 1.
package awskms

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/cerberus-go/cerberus/envelope"
)

const (
	// MaxKeys is the largest number of CMKs a KEK holds: the KMS
	// ciphertexts of that many keys, with their ARNs, fit in
	// envelope.MaxWrappedKeySize.
	MaxKeys = 3

	// DefaultAttemptTimeout is the time limit of one KMS call when
	// Config.AttemptTimeout is zero.
	DefaultAttemptTimeout = 2 * time.Second
)

const (
	idPrefix        = "awskms:"
	formatVersion1  = 0x01
	maxEntries      = 16
	maxARNLength    = 255
	maxBlobSize     = envelope.MaxWrappedKeySize
	contextKeyFirst = "cerberus"
	contextKeyRaw   = "aad"
)

// Config configures a KEK.
type Config struct {
	// KeyARNs are the ARNs of the symmetric CMKs, 1 to MaxKeys of them, of
	// the form arn:<partition>:kms:<region>:<account>:key/<key id>. Aliases
	// are not accepted: the wrapped key records the ARN, which must keep
	// naming the same key. Wrap encrypts under every one of them.
	KeyARNs []string

	// LocalRegion is the region of this server. Unwrap asks the CMKs of
	// this region first, then the others in the order of KeyARNs. It may be
	// empty, or a region without a CMK; then KeyARNs alone sets the order.
	LocalRegion string

	// AttemptTimeout limits each KMS call; Unwrap moves on to the next
	// region when it expires. Zero means DefaultAttemptTimeout.
	AttemptTimeout time.Duration

	// Endpoints maps a region to the URL of the KMS endpoint to use for it,
	// instead of the one the SDK resolves; each region must be the region
	// of one of KeyARNs. It is meant for tests and for VPC endpoints.
	Endpoints map[string]string

	// Credentials sign the KMS calls. Nil means the SDK's default chain
	// (environment, shared files, web identity, container and instance
	// roles).
	Credentials aws.CredentialsProvider
}

// KEK is a key-encryption key on AWS KMS. It implements envelope.KEK and is
// safe for concurrent use.
type KEK struct {
	id      string
	keys    []*cmk          // in the order of Config.KeyARNs
	byARN   map[string]*cmk // the same keys by ARN
	local   string          // Config.LocalRegion
	timeout time.Duration
}

var _ envelope.KEK = (*KEK)(nil)

// cmk is one configured KMS key with the client of its region.
type cmk struct {
	arn    string
	region string
	index  int // in Config.KeyARNs
	client *kms.Client
}

// New validates cfg and returns a KEK with one KMS client per region. It
// makes no KMS call, so it succeeds while KMS is unreachable.
//
// Returns an error naming the problem if an ARN is not the ARN of a KMS key,
// if an ARN is repeated, if there are no or more than MaxKeys ARNs, if an
// endpoint is not an http or https URL or names a region without a CMK, or
// if the default credential chain fails to load.
func New(ctx context.Context, cfg Config) (*KEK, error) {
	if len(cfg.KeyARNs) == 0 {
		return nil, errors.New("awskms: no key ARNs configured")
	}
	if len(cfg.KeyARNs) > MaxKeys {
		return nil, fmt.Errorf("awskms: %d key ARNs configured, at most %d fit in a wrapped key", len(cfg.KeyARNs), MaxKeys)
	}
	if cfg.AttemptTimeout < 0 {
		return nil, fmt.Errorf("awskms: negative attempt timeout %v", cfg.AttemptTimeout)
	}
	k := &KEK{
		byARN:   make(map[string]*cmk, len(cfg.KeyARNs)),
		local:   cfg.LocalRegion,
		timeout: cfg.AttemptTimeout,
	}
	if k.timeout == 0 {
		k.timeout = DefaultAttemptTimeout
	}
	regions := make(map[string]bool)
	for i, s := range cfg.KeyARNs {
		region, err := parseKeyARN(s)
		if err != nil {
			return nil, err
		}
		if k.byARN[s] != nil {
			return nil, fmt.Errorf("awskms: key ARN %s is configured twice", s)
		}
		c := &cmk{arn: s, region: region, index: i}
		k.keys = append(k.keys, c)
		k.byARN[s] = c
		regions[region] = true
	}
	for region, u := range cfg.Endpoints {
		if !regions[region] {
			return nil, fmt.Errorf("awskms: endpoint configured for region %q, which has no configured key", region)
		}
		if err := checkEndpoint(u); err != nil {
			return nil, fmt.Errorf("awskms: endpoint of region %s: %w", region, err)
		}
	}

	var opts []func(*config.LoadOptions) error
	if cfg.Credentials != nil {
		opts = append(opts, config.WithCredentialsProvider(cfg.Credentials))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("awskms: load AWS configuration: %w", err)
	}
	clients := make(map[string]*kms.Client, len(regions))
	for region := range regions {
		clients[region] = kms.NewFromConfig(awsCfg, func(o *kms.Options) {
			o.Region = region
			if u := cfg.Endpoints[region]; u != "" {
				o.BaseEndpoint = aws.String(u)
			}
		})
	}
	for _, c := range k.keys {
		c.client = clients[c.region]
	}
	k.id = keySetID(cfg.KeyARNs)
	return k, nil
}

// parseKeyARN checks that s is the ARN of a KMS key and returns its region.
func parseKeyARN(s string) (region string, err error) {
	bad := func(why string) error {
		return fmt.Errorf("awskms: %q is not the ARN of a KMS key (arn:<partition>:kms:<region>:<account>:key/<key id>): %s", s, why)
	}
	if len(s) > maxARNLength {
		return "", bad(fmt.Sprintf("longer than %d bytes", maxARNLength))
	}
	a, err := arn.Parse(s)
	if err != nil {
		return "", bad(err.Error())
	}
	switch {
	case !isName(a.Partition):
		return "", bad("invalid partition")
	case a.Service != "kms":
		return "", bad("service is not kms")
	case !isName(a.Region):
		return "", bad("invalid region")
	case len(a.AccountID) != 12 || strings.Trim(a.AccountID, "0123456789") != "":
		return "", bad("account is not 12 digits")
	case !strings.HasPrefix(a.Resource, "key/"):
		if strings.HasPrefix(a.Resource, "alias/") {
			return "", bad("aliases are not accepted, use the ARN of the key")
		}
		return "", bad("resource is not key/<key id>")
	case !isKeyID(strings.TrimPrefix(a.Resource, "key/")):
		return "", bad("invalid key id")
	}
	return a.Region, nil
}

// isName reports whether s is a non-empty string of [a-z0-9-], like a
// partition or a region.
func isName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// isKeyID reports whether s is a non-empty string of [A-Za-z0-9-], like a
// key id or a multi-Region key id.
func isKeyID(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func checkEndpoint(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http or https URL", s)
	}
	return nil
}

// keySetID returns the key id of a set of ARNs.
func keySetID(arns []string) string {
	sorted := slices.Sorted(slices.Values(arns))
	sum := sha256.Sum256([]byte(strings.Join(sorted, "\n")))
	return idPrefix + hex.EncodeToString(sum[:8])
}

// KeyID returns the id of the configured key set, "awskms:" followed by 16
// hexadecimal digits.
func (k *KEK) KeyID() string { return k.id }

// Wrap encrypts dataKey under every configured CMK, in parallel, with the
// encryption context derived from aad, and returns the wrapped key in the
// format described in the package documentation.
//
// Every CMK must succeed, so that every region can unwrap every record: if a
// region fails or does not answer within the attempt timeout, Wrap fails
// with an error naming it, and the write should be retried later.
func (k *KEK) Wrap(ctx context.Context, dataKey, aad []byte) ([]byte, error) {
	if len(dataKey) == 0 {
		return nil, errors.New("awskms: empty data key")
	}
	ec := EncryptionContext(aad)
	blobs := make([][]byte, len(k.keys))
	errs := make([]error, len(k.keys))
	if len(k.keys) == 1 {
		blobs[0], errs[0] = k.encrypt(ctx, k.keys[0], dataKey, ec)
	} else {
		var wg sync.WaitGroup
		for i, c := range k.keys {
			wg.Go(func() { blobs[i], errs[i] = k.encrypt(ctx, c, dataKey, ec) })
		}
		wg.Wait()
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	entries := make([]entry, len(k.keys))
	for i, c := range k.keys {
		entries[i] = entry{arn: c.arn, blob: blobs[i]}
	}
	return marshalWrapped(entries)
}

func (k *KEK) encrypt(ctx context.Context, c *cmk, dataKey []byte, ec map[string]string) ([]byte, error) {
	actx, cancel := context.WithTimeout(ctx, k.timeout)
	defer cancel()
	out, err := c.client.Encrypt(actx, &kms.EncryptInput{
		KeyId:             aws.String(c.arn),
		Plaintext:         dataKey,
		EncryptionContext: ec,
	})
	if err != nil {
		return nil, fmt.Errorf("awskms: encrypt with %s: %w", c.arn, err)
	}
	if n := len(out.CiphertextBlob); n == 0 || n > maxBlobSize {
		return nil, fmt.Errorf("awskms: encrypt with %s: KMS returned a ciphertext of %d bytes, want 1 to %d", c.arn, n, maxBlobSize)
	}
	return out.CiphertextBlob, nil
}

// Unwrap decrypts a data key wrapped by Wrap, bound to aad. It tries the
// entries of the wrapped key whose CMK is configured, those of the local
// region first, each with the attempt timeout, and returns the first data
// key KMS returns. keyID may name an earlier key set.
//
// Returns an error wrapping envelope.ErrUnknownKey if keyID is not an
// awskms id, if no entry names a configured CMK, or if KMS reports every
// such CMK as not found; an error wrapping envelope.ErrFormat if wrapped is
// not in the format of Wrap; and an error wrapping envelope.ErrDecrypt as
// soon as KMS reports that a ciphertext fails authentication (the aad or the
// wrapped key is not the one that was wrapped), without asking other
// regions. Other failures in every region, such as timeouts, throttling or
// disabled keys, give an error that wraps each region's error.
func (k *KEK) Unwrap(ctx context.Context, keyID string, wrapped, aad []byte) ([]byte, error) {
	if !strings.HasPrefix(keyID, idPrefix) {
		return nil, fmt.Errorf("awskms: key id %q is not an awskms key set: %w", keyID, envelope.ErrUnknownKey)
	}
	entries, err := parseWrapped(wrapped)
	if err != nil {
		return nil, err
	}
	type attempt struct {
		c    *cmk
		blob []byte
	}
	var attempts []attempt
	for _, e := range entries {
		if c := k.byARN[e.arn]; c != nil {
			attempts = append(attempts, attempt{c, e.blob})
		}
	}
	if len(attempts) == 0 {
		return nil, fmt.Errorf("awskms: key set %s: none of the %d keys of the wrapped key is configured: %w", keyID, len(entries), envelope.ErrUnknownKey)
	}
	slices.SortFunc(attempts, func(a, b attempt) int {
		if al, bl := a.c.region == k.local, b.c.region == k.local; al != bl {
			if al {
				return -1
			}
			return 1
		}
		return a.c.index - b.c.index
	})

	ec := EncryptionContext(aad)
	errs := make([]error, 0, len(attempts))
	notFound := 0
	for i, a := range attempts {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("awskms: unwrap: %w", err)
		}
		last := i == len(attempts)-1
		dataKey, err := k.decrypt(ctx, a.c, a.blob, ec, last)
		if err == nil {
			return dataKey, nil
		}
		var (
			invalid   *types.InvalidCiphertextException
			incorrect *types.IncorrectKeyException
			missing   *types.NotFoundException
		)
		switch {
		case errors.As(err, &invalid), errors.As(err, &incorrect):
			return nil, fmt.Errorf("awskms: decrypt with %s: %w", a.c.arn, envelope.ErrDecrypt)
		case errors.As(err, &missing):
			notFound++
		}
		errs = append(errs, fmt.Errorf("decrypt with %s: %w", a.c.arn, err))
	}
	if notFound == len(attempts) {
		return nil, fmt.Errorf("awskms: no configured key of the wrapped key exists: %w (%w)", envelope.ErrUnknownKey, errors.Join(errs...))
	}
	return nil, fmt.Errorf("awskms: unwrap failed in every region: %w", errors.Join(errs...))
}

// decrypt makes one KMS Decrypt call. Unless it is the last region to try,
// the SDK does not retry it: the next region is the retry.
func (k *KEK) decrypt(ctx context.Context, c *cmk, blob []byte, ec map[string]string, last bool) ([]byte, error) {
	actx, cancel := context.WithTimeout(ctx, k.timeout)
	defer cancel()
	var optFns []func(*kms.Options)
	if !last {
		optFns = append(optFns, func(o *kms.Options) { o.RetryMaxAttempts = 1 })
	}
	out, err := c.client.Decrypt(actx, &kms.DecryptInput{
		KeyId:             aws.String(c.arn),
		CiphertextBlob:    blob,
		EncryptionContext: ec,
	}, optFns...)
	if err != nil {
		return nil, err
	}
	return out.Plaintext, nil
}

// EncryptionContext returns the KMS encryption context that Wrap and Unwrap
// send for aad, as described in the package documentation: the NUL-separated
// fields of aad under the keys "cerberus", "1", "2", and so on, or
// {"aad": base64url(aad)} if a field is empty or not valid UTF-8. It returns
// nil for an empty aad.
func EncryptionContext(aad []byte) map[string]string {
	if len(aad) == 0 {
		return nil
	}
	fields := bytes.Split(aad, []byte{0})
	ec := make(map[string]string, len(fields))
	for i, f := range fields {
		if len(f) == 0 || !utf8.Valid(f) {
			return map[string]string{contextKeyRaw: base64.RawURLEncoding.EncodeToString(aad)}
		}
		key := contextKeyFirst
		if i > 0 {
			key = strconv.Itoa(i)
		}
		ec[key] = string(f)
	}
	return ec
}

// entry is one entry of a wrapped key: a CMK and the KMS ciphertext of the
// data key under it.
type entry struct {
	arn  string
	blob []byte
}

// marshalWrapped encodes entries in the wrapped key format.
func marshalWrapped(entries []entry) ([]byte, error) {
	if len(entries) == 0 || len(entries) > maxEntries {
		return nil, fmt.Errorf("awskms: %d entries, want 1 to %d", len(entries), maxEntries)
	}
	size := 2
	for _, e := range entries {
		if len(e.arn) == 0 || len(e.arn) > maxARNLength {
			return nil, fmt.Errorf("awskms: key ARN of %d bytes, want 1 to %d", len(e.arn), maxARNLength)
		}
		if len(e.blob) == 0 || len(e.blob) > maxBlobSize {
			return nil, fmt.Errorf("awskms: ciphertext of %d bytes, want 1 to %d", len(e.blob), maxBlobSize)
		}
		size += 1 + len(e.arn) + 2 + len(e.blob)
	}
	if size > envelope.MaxWrappedKeySize {
		return nil, fmt.Errorf("awskms: wrapped key of %d bytes is larger than the limit of %d bytes; configure fewer keys", size, envelope.MaxWrappedKeySize)
	}
	b := make([]byte, 0, size)
	b = append(b, formatVersion1, byte(len(entries)))
	for _, e := range entries {
		b = append(b, byte(len(e.arn)))
		b = append(b, e.arn...)
		b = binary.BigEndian.AppendUint16(b, uint16(len(e.blob)))
		b = append(b, e.blob...)
	}
	return b, nil
}

// parseWrapped decodes a wrapped key, checking every length against the
// bytes present and the limits of the format. The blobs of the entries
// alias b.
func parseWrapped(b []byte) ([]entry, error) {
	malformed := func(format string, args ...any) error {
		return fmt.Errorf("awskms: wrapped key: %s: %w", fmt.Sprintf(format, args...), envelope.ErrFormat)
	}
	if len(b) > envelope.MaxWrappedKeySize {
		return nil, malformed("%d bytes is larger than the limit of %d bytes", len(b), envelope.MaxWrappedKeySize)
	}
	if len(b) < 2 {
		return nil, malformed("%d bytes is too short", len(b))
	}
	if b[0] != formatVersion1 {
		return nil, malformed("unsupported version 0x%02x", b[0])
	}
	n := int(b[1])
	if n == 0 || n > maxEntries {
		return nil, malformed("%d entries, want 1 to %d", n, maxEntries)
	}
	entries := make([]entry, 0, n)
	rest := b[2:]
	for i := range n {
		if len(rest) < 1 {
			return nil, malformed("entry %d is truncated", i)
		}
		a := int(rest[0])
		if a == 0 {
			return nil, malformed("entry %d has an empty key ARN", i)
		}
		if len(rest) < 1+a+2 {
			return nil, malformed("entry %d is truncated", i)
		}
		arn := string(rest[1 : 1+a])
		c := int(binary.BigEndian.Uint16(rest[1+a:]))
		if c == 0 || c > maxBlobSize {
			return nil, malformed("entry %d has a ciphertext length of %d, want 1 to %d", i, c, maxBlobSize)
		}
		rest = rest[1+a+2:]
		if len(rest) < c {
			return nil, malformed("entry %d is truncated", i)
		}
		for _, e := range entries {
			if e.arn == arn {
				return nil, malformed("key ARN of entry %d is repeated", i)
			}
		}
		entries = append(entries, entry{arn: arn, blob: rest[:c:c]})
		rest = rest[c:]
	}
	if len(rest) != 0 {
		return nil, malformed("%d bytes follow the last entry", len(rest))
	}
	return entries, nil
}
