package awskms_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/cerberus-go/cerberus/awskms"
	"github.com/cerberus-go/cerberus/envelope"
	"github.com/cerberus-go/cerberus/internal/kmstest"
)

// attemptTimeout is the attempt timeout of the KEKs of the tests, and
// slack the time a read may take beyond it on a loaded machine.
const (
	attemptTimeout = 500 * time.Millisecond
	slack          = time.Second
)

// secretAAD builds the aad of a secret as the service package does.
func secretAAD(sdb, path string, version int) []byte {
	return []byte("cerberus:secret:v1\x00secret\x00" + sdb + "\x00" + path + "\x00" + string(rune('0'+version)))
}

// region is a local-kms server with one key.
type region struct {
	srv *kmstest.Server
	arn string
}

func startRegions(t testing.TB, names ...string) []region {
	t.Helper()
	rs := make([]region, len(names))
	for i, name := range names {
		srv := kmstest.Start(t, name)
		rs[i] = region{srv: srv, arn: srv.CreateKey(t)}
	}
	return rs
}

// config returns the configuration of a KEK on rs, with the first one local.
func config(rs ...region) awskms.Config {
	cfg := awskms.Config{
		LocalRegion:    rs[0].srv.Region,
		AttemptTimeout: attemptTimeout,
		Endpoints:      map[string]string{},
		Credentials:    kmstest.Credentials(),
	}
	for _, r := range rs {
		cfg.KeyARNs = append(cfg.KeyARNs, r.arn)
		cfg.Endpoints[r.srv.Region] = r.srv.URL
	}
	return cfg
}

func mustNew(t testing.TB, cfg awskms.Config) *awskms.KEK {
	t.Helper()
	k, err := awskms.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("awskms.New: %v", err)
	}
	return k
}

func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// splitCiphertext returns the KEK id and the wrapped key of an envelope
// ciphertext.
func splitCiphertext(t testing.TB, ct []byte) (keyID string, wrapped []byte) {
	t.Helper()
	n := int(ct[1])
	m := int(binary.BigEndian.Uint16(ct[2+n:]))
	return string(ct[2 : 2+n]), ct[4+n : 4+n+m]
}

func TestNew(t *testing.T) {
	const (
		arnA = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
		arnB = "arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab"
		arnC = "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
		arnD = "arn:aws:kms:ap-south-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	)
	tests := []struct {
		name    string
		cfg     awskms.Config
		wantErr string // a part of the error, or "" for success
	}{
		{"OK", awskms.Config{KeyARNs: []string{arnA}}, ""},
		{"OKThree", awskms.Config{KeyARNs: []string{arnA, arnB, arnC}, LocalRegion: "eu-west-1"}, ""},
		{"OKLocalRegionWithoutKey", awskms.Config{KeyARNs: []string{arnA}, LocalRegion: "eu-central-1"}, ""},
		{"OKEndpoint", awskms.Config{KeyARNs: []string{arnA}, Endpoints: map[string]string{"us-east-1": "https://vpce.example:8443"}}, ""},
		{"NoKeys", awskms.Config{}, "no key ARNs"},
		{"TooManyKeys", awskms.Config{KeyARNs: []string{arnA, arnB, arnC, arnD}}, "at most 3"},
		{"Duplicate", awskms.Config{KeyARNs: []string{arnA, arnA}}, "twice"},
		{"Alias", awskms.Config{KeyARNs: []string{"arn:aws:kms:us-east-1:111122223333:alias/cerberus"}}, "aliases"},
		{"KeyID", awskms.Config{KeyARNs: []string{"1234abcd-12ab-34cd-56ef-1234567890ab"}}, "not the ARN"},
		{"OtherService", awskms.Config{KeyARNs: []string{"arn:aws:s3:us-east-1:111122223333:key/abc"}}, "service"},
		{"NoRegion", awskms.Config{KeyARNs: []string{"arn:aws:kms::111122223333:key/abc"}}, "region"},
		{"BadRegion", awskms.Config{KeyARNs: []string{"arn:aws:kms:US_EAST:111122223333:key/abc"}}, "region"},
		{"BadAccount", awskms.Config{KeyARNs: []string{"arn:aws:kms:us-east-1:1111:key/abc"}}, "account"},
		{"NoKeyID", awskms.Config{KeyARNs: []string{"arn:aws:kms:us-east-1:111122223333:key/"}}, "key id"},
		{"BadKeyID", awskms.Config{KeyARNs: []string{"arn:aws:kms:us-east-1:111122223333:key/a/b"}}, "key id"},
		{"TooLong", awskms.Config{KeyARNs: []string{"arn:aws:kms:us-east-1:111122223333:key/" + strings.Repeat("a", 250)}}, "longer"},
		{"EndpointOtherRegion", awskms.Config{KeyARNs: []string{arnA}, Endpoints: map[string]string{"eu-west-1": "http://127.0.0.1:1"}}, "no configured key"},
		{"EndpointNotURL", awskms.Config{KeyARNs: []string{arnA}, Endpoints: map[string]string{"us-east-1": "127.0.0.1:1"}}, "endpoint of region us-east-1"},
		{"EndpointNotHTTP", awskms.Config{KeyARNs: []string{arnA}, Endpoints: map[string]string{"us-east-1": "ftp://127.0.0.1:1"}}, "not an http"},
		{"NegativeTimeout", awskms.Config{KeyARNs: []string{arnA}, AttemptTimeout: -time.Second}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Credentials = kmstest.Credentials()
			k, err := awskms.New(context.Background(), tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if id := k.KeyID(); !strings.HasPrefix(id, "awskms:") || len(id) != len("awskms:")+16 {
					t.Errorf("KeyID() = %q, want awskms: and 16 hex digits", id)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "awskms: ") {
				t.Fatalf("New: err = %v, want an awskms error containing %q", err, tt.wantErr)
			}
		})
	}

	t.Run("KeyIDNamesTheSet", func(t *testing.T) {
		id := func(arns ...string) string {
			return mustNew(t, awskms.Config{KeyARNs: arns, Credentials: kmstest.Credentials()}).KeyID()
		}
		if id(arnA, arnB) != id(arnB, arnA) {
			t.Error("the key id depends on the order of the ARNs")
		}
		if id(arnA) == id(arnA, arnB) || id(arnA) == id(arnB) {
			t.Error("different key sets have the same key id")
		}
	})
}

func TestEncryptionContext(t *testing.T) {
	tests := []struct {
		name string
		aad  string
		want map[string]string
	}{
		{"Secret", "cerberus:secret:v1\x00file\x00sdb-1\x00app/cfg.json\x005", map[string]string{
			"cerberus": "cerberus:secret:v1", "1": "file", "2": "sdb-1", "3": "app/cfg.json", "4": "5"}},
		{"ServerKey", "cerberus:server-key:token-hmac", map[string]string{"cerberus": "cerberus:server-key:token-hmac"}},
		{"TOTP", "cerberus:user-totp:u-42", map[string]string{"cerberus": "cerberus:user-totp:u-42"}},
		{"UTF8", "cerberus:secret:v1\x00secret\x00sdb\x00café/☃\x001", map[string]string{
			"cerberus": "cerberus:secret:v1", "1": "secret", "2": "sdb", "3": "café/☃", "4": "1"}},
		{"Empty", "", nil},
		{"InvalidUTF8", "cerberus:x\x00\xff\xfe", map[string]string{"aad": "Y2VyYmVydXM6eAD__g"}},
		{"EmptyField", "a\x00\x00b", map[string]string{"aad": "YQAAYg"}},
		{"TrailingNUL", "a\x00", map[string]string{"aad": "YQA"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := awskms.EncryptionContext([]byte(tt.aad)); !maps.Equal(got, tt.want) {
				t.Errorf("EncryptionContext(%q) = %v, want %v", tt.aad, got, tt.want)
			}
		})
	}
}

// TestSealOpen seals and opens records of every kind of aad through a KEK
// on two regions, and checks the wrapped key: one entry per region, each
// bound by KMS to the encryption context of the aad.
func TestSealOpen(t *testing.T) {
	ctx := testContext(t)
	rs := startRegions(t, "us-east-1", "us-west-2")
	kek := mustNew(t, config(rs...))
	env := envelope.New(kek)
	tests := []struct {
		name      string
		plaintext []byte
		aad       []byte
	}{
		{"Secret", []byte(`{"password":"hunter2"}`), secretAAD("sdb-1", "app/db", 1)},
		{"ServerKey", bytes.Repeat([]byte{7}, 32), []byte("cerberus:server-key:token-hmac")},
		{"TOTP", []byte("JBSWY3DPEHPK3PXP"), []byte("cerberus:user-totp:u-42")},
		{"EmptyPlaintext", []byte{}, secretAAD("sdb-1", "app/empty", 1)},
		{"EmptyAAD", []byte("x"), nil},
		{"InvalidUTF8AAD", []byte("x"), []byte("cerberus:x\x00\xff")},
		{"Large", bytes.Repeat([]byte("s"), 1<<20), secretAAD("sdb-2", "app/big", 3)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct, err := env.Seal(ctx, tt.plaintext, tt.aad)
			if err != nil {
				t.Fatalf("Seal: %v", err)
			}
			got, err := env.Open(ctx, ct, tt.aad)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, tt.plaintext) {
				t.Fatalf("Open = %.40q, want %.40q", got, tt.plaintext)
			}

			keyID, wrapped := splitCiphertext(t, ct)
			if keyID != kek.KeyID() {
				t.Errorf("ciphertext key id = %q, want %q", keyID, kek.KeyID())
			}
			entries, err := awskms.ParseWrapped(wrapped)
			if err != nil {
				t.Fatalf("ParseWrapped: %v", err)
			}
			if len(entries) != len(rs) {
				t.Fatalf("wrapped key has %d entries, want %d", len(entries), len(rs))
			}
			for i, e := range entries {
				r := rs[i]
				if e.ARN() != r.arn {
					t.Errorf("entry %d: ARN = %s, want %s", i, e.ARN(), r.arn)
				}
				// KMS itself holds the encryption context: it decrypts
				// with it, and refuses without it.
				c := r.srv.Client()
				_, err := c.Decrypt(ctx, &kms.DecryptInput{KeyId: aws.String(r.arn), CiphertextBlob: e.Blob(), EncryptionContext: awskms.EncryptionContext(tt.aad)})
				if err != nil {
					t.Errorf("entry %d: KMS Decrypt with the encryption context: %v", i, err)
				}
				if len(tt.aad) > 0 {
					var invalid *types.InvalidCiphertextException
					_, err = c.Decrypt(ctx, &kms.DecryptInput{KeyId: aws.String(r.arn), CiphertextBlob: e.Blob()})
					if !errors.As(err, &invalid) {
						t.Errorf("entry %d: KMS Decrypt without encryption context: err = %v, want InvalidCiphertextException", i, err)
					}
				}
			}
		})
	}
}

// hangingEndpoint returns the URL of a server that accepts requests and
// never answers them, like a region that does not respond.
func hangingEndpoint(t testing.TB) string {
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stop) })
	return srv.URL
}

// TestFailover checks that reads keep working while one region is down or
// hangs, within the attempt timeout, and again after it comes back.
func TestFailover(t *testing.T) {
	ctx := testContext(t)
	rs := startRegions(t, "us-east-1", "us-west-2")
	local, remote := rs[0], rs[1]
	kek := mustNew(t, config(rs...))
	env := envelope.New(kek)
	aad := secretAAD("sdb-1", "app/db", 1)
	ct, err := env.Seal(ctx, []byte("value"), aad)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	hangCfg := config(rs...)
	hangCfg.Endpoints[local.srv.Region] = hangingEndpoint(t)
	hangKEK := mustNew(t, hangCfg)

	// open opens ct through kek and checks the time it took.
	open := func(t *testing.T, kek envelope.KEK, min, max time.Duration) {
		t.Helper()
		start := time.Now()
		got, err := envelope.New(kek).Open(ctx, ct, aad)
		elapsed := time.Since(start)
		if err != nil || string(got) != "value" {
			t.Fatalf("Open = %q, %v; want %q", got, err, "value")
		}
		if elapsed < min || elapsed > max {
			t.Errorf("Open took %v, want %v to %v", elapsed, min, max)
		}
		t.Logf("Open took %v", elapsed)
	}

	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"BothUp", func(t *testing.T) { open(t, kek, 0, slack) }},
		{"LocalStopped", func(t *testing.T) {
			local.srv.Stop()
			open(t, kek, 0, attemptTimeout+slack)
		}},
		{"SealFailsWhileARegionIsDown", func(t *testing.T) {
			_, err := env.Seal(ctx, []byte("value"), aad)
			if err == nil || !strings.Contains(err.Error(), local.arn) {
				t.Fatalf("Seal while %s is down: err = %v, want an error naming %s", local.srv.Region, err, local.arn)
			}
		}},
		{"LocalRestarted", func(t *testing.T) {
			local.srv.Start()
			remote.srv.Stop()
			open(t, kek, 0, attemptTimeout+slack) // only the restarted region can answer
		}},
		{"BothStopped", func(t *testing.T) {
			local.srv.Stop()
			start := time.Now()
			_, err := env.Open(ctx, ct, aad)
			if err == nil || errors.Is(err, envelope.ErrDecrypt) || errors.Is(err, envelope.ErrUnknownKey) {
				t.Fatalf("Open with both regions down: err = %v, want an error that is neither ErrDecrypt nor ErrUnknownKey", err)
			}
			if d := time.Since(start); d > 2*attemptTimeout+slack {
				t.Errorf("Open with both regions down took %v, want at most %v", d, 2*attemptTimeout+slack)
			}
		}},
		{"BothRestarted", func(t *testing.T) {
			local.srv.Start()
			remote.srv.Start()
			open(t, kek, 0, slack)
		}},
		{"LocalHangs", func(t *testing.T) {
			open(t, hangKEK, attemptTimeout, attemptTimeout+slack)
		}},
		{"CallerDeadline", func(t *testing.T) {
			short, cancel := context.WithTimeout(ctx, attemptTimeout/5)
			defer cancel()
			start := time.Now()
			_, err := envelope.New(hangKEK).Open(short, ct, aad)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Open with an expiring context: err = %v, want context.DeadlineExceeded", err)
			}
			if d := time.Since(start); d > attemptTimeout/5+slack {
				t.Errorf("Open with an expiring context took %v", d)
			}
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.run) {
			return
		}
	}
}

// TestWrongAAD checks that KMS refuses to unwrap a data key for another
// record.
func TestWrongAAD(t *testing.T) {
	ctx := testContext(t)
	rs := startRegions(t, "eu-west-1", "eu-central-1")
	kek := mustNew(t, config(rs...))
	env := envelope.New(kek)
	aad := secretAAD("sdb-1", "app/db", 2)
	dataKey := bytes.Repeat([]byte{0x5a}, 32)
	wrapped, err := kek.Wrap(ctx, dataKey, aad)
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	ct, err := env.Seal(ctx, []byte("value"), aad)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	tests := []struct {
		name string
		aad  []byte
	}{
		{"OtherVersion", secretAAD("sdb-1", "app/db", 1)},
		{"OtherPath", secretAAD("sdb-1", "app/dc", 2)},
		{"OtherSDB", secretAAD("sdb-2", "app/db", 2)},
		{"OtherKind", []byte("cerberus:secret:v1\x00file\x00sdb-1\x00app/db\x002")},
		{"Prefix", aad[:len(aad)-2]},
		{"Empty", nil},
		{"ServerKey", []byte("cerberus:server-key:x")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The KEK alone: KMS refuses.
			got, err := kek.Unwrap(ctx, kek.KeyID(), wrapped, tt.aad)
			if !errors.Is(err, envelope.ErrDecrypt) {
				t.Errorf("Unwrap with aad %q: %x, %v; want ErrDecrypt", tt.aad, got, err)
			}
			if _, err := env.Open(ctx, ct, tt.aad); !errors.Is(err, envelope.ErrDecrypt) {
				t.Errorf("Open with aad %q: err = %v, want ErrDecrypt", tt.aad, err)
			}
		})
	}
	got, err := kek.Unwrap(ctx, kek.KeyID(), wrapped, aad)
	if err != nil || !bytes.Equal(got, dataKey) {
		t.Fatalf("Unwrap with the right aad = %x, %v; want %x", got, err, dataKey)
	}

	// local-kms joins the sorted keys and values of the encryption context
	// without separators, so these two aads have the same context to it
	// (not to AWS KMS); the envelope still refuses the swap.
	t.Run("AmbiguousInLocalKMS", func(t *testing.T) {
		a, b := []byte("cerberus:x\x00a2b"), []byte("cerberus:x\x00a\x00b")
		ct, err := env.Seal(ctx, []byte("value"), a)
		if err != nil {
			t.Fatalf("Seal: %v", err)
		}
		if _, err := env.Open(ctx, ct, b); !errors.Is(err, envelope.ErrDecrypt) {
			t.Errorf("Open with aad %q of a record sealed with %q: err = %v, want ErrDecrypt", b, a, err)
		}
		_, wrapped := splitCiphertext(t, ct)
		_, err = kek.Unwrap(ctx, kek.KeyID(), wrapped, b)
		t.Logf("KEK Unwrap with the aad that collides in local-kms (AWS KMS refuses it): err = %v", err)
	})
}

// TestUnwrapErrors checks that malformed, foreign and tampered wrapped keys
// give typed errors and never a panic.
func TestUnwrapErrors(t *testing.T) {
	ctx := testContext(t)
	rs := startRegions(t, "us-east-1", "us-west-2")
	kek := mustNew(t, config(rs...))
	aad := secretAAD("sdb-1", "app/db", 1)
	valid, err := kek.Wrap(ctx, bytes.Repeat([]byte{1}, 32), aad)
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	entries, err := awskms.ParseWrapped(valid)
	if err != nil {
		t.Fatalf("ParseWrapped: %v", err)
	}
	blob := entries[0].Blob()
	with := func(change func(b []byte) []byte) []byte { return change(bytes.Clone(valid)) }
	marshal := func(es ...awskms.Entry) []byte {
		b, err := awskms.MarshalWrapped(es)
		if err != nil {
			t.Fatalf("MarshalWrapped: %v", err)
		}
		return b
	}
	flipLast := func(b []byte) []byte { b = bytes.Clone(b); b[len(b)-1] ^= 1; return b }
	const otherARN = "arn:aws:kms:ap-south-1:111122223333:key/00000000-0000-0000-0000-000000000000"

	tests := []struct {
		name    string
		keyID   string
		wrapped []byte
		want    error
	}{
		{"LocalKMSKeyID", "local-1f2e3d4c", valid, envelope.ErrUnknownKey},
		{"EmptyKeyID", "", valid, envelope.ErrUnknownKey},
		{"Empty", "", nil, envelope.ErrUnknownKey},
		{"EmptyWrapped", kek.KeyID(), nil, envelope.ErrFormat},
		{"OneByte", kek.KeyID(), []byte{1}, envelope.ErrFormat},
		{"Version2", kek.KeyID(), with(func(b []byte) []byte { b[0] = 2; return b }), envelope.ErrFormat},
		{"Version0", kek.KeyID(), with(func(b []byte) []byte { b[0] = 0; return b }), envelope.ErrFormat},
		{"ZeroEntries", kek.KeyID(), []byte{1, 0}, envelope.ErrFormat},
		{"ManyEntries", kek.KeyID(), with(func(b []byte) []byte { b[1] = 255; return b }), envelope.ErrFormat},
		{"MoreEntriesThanPresent", kek.KeyID(), with(func(b []byte) []byte { b[1] = 3; return b }), envelope.ErrFormat},
		{"FewerEntriesThanPresent", kek.KeyID(), with(func(b []byte) []byte { b[1] = 1; return b }), envelope.ErrFormat},
		{"EmptyARN", kek.KeyID(), []byte{1, 1, 0, 0, 1, 'x'}, envelope.ErrFormat},
		{"ARNLengthPastEnd", kek.KeyID(), []byte{1, 1, 255, 'a', 'r', 'n'}, envelope.ErrFormat},
		{"ZeroBlobLength", kek.KeyID(), []byte{1, 1, 1, 'a', 0, 0}, envelope.ErrFormat},
		{"AbsurdBlobLength", kek.KeyID(), []byte{1, 1, 1, 'a', 0xff, 0xff, 'x'}, envelope.ErrFormat},
		{"BlobLengthPastEnd", kek.KeyID(), []byte{1, 1, 1, 'a', 0x01, 0x00, 'x'}, envelope.ErrFormat},
		{"TrailingByte", kek.KeyID(), append(bytes.Clone(valid), 0), envelope.ErrFormat},
		{"TooLong", kek.KeyID(), append(bytes.Clone(valid), make([]byte, envelope.MaxWrappedKeySize)...), envelope.ErrFormat},
		{"RepeatedARN", kek.KeyID(), append([]byte{1, 2}, bytes.Repeat(marshal(awskms.NewEntry(rs[0].arn, blob))[2:], 2)...), envelope.ErrFormat},
		{"UnconfiguredARN", kek.KeyID(), marshal(awskms.NewEntry(otherARN, blob)), envelope.ErrUnknownKey},
		{"UnconfiguredARNOfOldKeySet", "awskms:0123456789abcdef", marshal(awskms.NewEntry(otherARN, blob)), envelope.ErrUnknownKey},
		{"TamperedKMSCiphertext", kek.KeyID(), marshal(awskms.NewEntry(rs[0].arn, flipLast(blob))), envelope.ErrDecrypt},
		{"GarbageKMSCiphertext", kek.KeyID(), marshal(awskms.NewEntry(rs[0].arn, bytes.Repeat([]byte{0x41}, 200))), envelope.ErrDecrypt},
		{"CiphertextOfOtherRegion", kek.KeyID(), marshal(awskms.NewEntry(rs[0].arn, entries[1].Blob())), envelope.ErrDecrypt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := kek.Unwrap(ctx, tt.keyID, tt.wrapped, aad)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Unwrap = %x, %v; want %v", got, err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "awskms: ") {
				t.Errorf("error %q lacks the prefix awskms: ", err)
			}
		})
	}

	t.Run("EveryTruncation", func(t *testing.T) {
		for n := range len(valid) {
			if _, err := kek.Unwrap(ctx, kek.KeyID(), valid[:n], aad); !errors.Is(err, envelope.ErrFormat) {
				t.Fatalf("Unwrap of the first %d of %d bytes: err = %v, want ErrFormat", n, len(valid), err)
			}
		}
	})

	t.Run("RandomBytes", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		for range 200 {
			b := make([]byte, rng.IntN(2*envelope.MaxWrappedKeySize))
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			if len(b) > 0 && rng.IntN(2) == 0 {
				b[0] = 1 // the right version, to get further
			}
			if _, err := kek.Unwrap(ctx, kek.KeyID(), b, aad); err == nil {
				t.Fatalf("Unwrap of %d random bytes succeeded", len(b))
			}
		}
	})
}

// TestKeySetChange checks that adding or removing a key keeps records
// readable while one of their keys is configured.
func TestKeySetChange(t *testing.T) {
	ctx := testContext(t)
	rs := startRegions(t, "us-east-1", "us-west-2")
	a, b := rs[0], rs[1]
	onlyA := mustNew(t, config(a))
	both := mustNew(t, config(a, b))
	onlyB := mustNew(t, config(b))
	if onlyA.KeyID() == both.KeyID() {
		t.Fatal("adding a key did not change the key id")
	}
	aad := secretAAD("sdb-1", "app/db", 1)
	sealedA, err := envelope.New(onlyA).Seal(ctx, []byte("old"), aad)
	if err != nil {
		t.Fatalf("Seal under %s: %v", onlyA.KeyID(), err)
	}
	sealedBoth, err := envelope.New(both).Seal(ctx, []byte("new"), aad)
	if err != nil {
		t.Fatalf("Seal under %s: %v", both.KeyID(), err)
	}
	tests := []struct {
		name string
		kek  *awskms.KEK
		ct   []byte
		want string
		err  error
	}{
		{"KeyAdded", both, sealedA, "old", nil},
		{"KeyRemoved", onlyA, sealedBoth, "new", nil},
		{"OtherRegionOnly", onlyB, sealedBoth, "new", nil},
		{"NoKeyLeft", onlyB, sealedA, "", envelope.ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := envelope.New(tt.kek).Open(ctx, tt.ct, aad)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("Open = %q, %v; want %v", got, err, tt.err)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("Open = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestMarshalWrappedLimits(t *testing.T) {
	const arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	blob := bytes.Repeat([]byte{1}, 184) // the size of an AWS KMS ciphertext of a 32-byte key
	long := strings.Replace(arn, "us-east-1", "us-gov-west-1", 1)
	long = strings.Replace(long, "arn:aws:", "arn:aws-us-gov:", 1)
	var es []awskms.Entry
	for i := range awskms.MaxKeys {
		es = append(es, awskms.NewEntry(long+string(rune('a'+i)), blob))
	}
	b, err := awskms.MarshalWrapped(es)
	if err != nil {
		t.Fatalf("MarshalWrapped of %d entries of %d-byte ciphertexts: %v", awskms.MaxKeys, len(blob), err)
	}
	if len(b) > envelope.MaxWrappedKeySize {
		t.Fatalf("wrapped key of %d bytes", len(b))
	}
	es = append(es, awskms.NewEntry(long+"z", bytes.Repeat([]byte{1}, 400)))
	if _, err := awskms.MarshalWrapped(es); err == nil {
		t.Error("MarshalWrapped of a wrapped key over the limit succeeded")
	}
}

// FuzzParseWrapped checks that the parser of wrapped keys never panics and
// accepts only what MarshalWrapped writes.
func FuzzParseWrapped(f *testing.F) {
	const arnA = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	const arnB = "arn:aws:kms:us-west-2:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab"
	one, _ := awskms.MarshalWrapped([]awskms.Entry{awskms.NewEntry(arnA, bytes.Repeat([]byte{7}, 184))})
	two, _ := awskms.MarshalWrapped([]awskms.Entry{awskms.NewEntry(arnA, []byte{1, 2, 3}), awskms.NewEntry(arnB, bytes.Repeat([]byte{9}, 140))})
	f.Add(one)
	f.Add(two)
	f.Add(two[:len(two)-1])
	f.Add([]byte{})
	f.Add([]byte{1, 1, 1, 'a', 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := awskms.ParseWrapped(b)
		if err != nil {
			if !errors.Is(err, envelope.ErrFormat) {
				t.Fatalf("ParseWrapped: err = %v, want ErrFormat", err)
			}
			return
		}
		again, err := awskms.MarshalWrapped(entries)
		if err != nil {
			t.Fatalf("MarshalWrapped of parsed entries: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("MarshalWrapped(ParseWrapped(%x)) = %x", b, again)
		}
	})
}
