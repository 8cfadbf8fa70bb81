// Package localkms implements the local key-encryption key of Cerberus: a
// keyring file on the server's disk that holds one or more 256-bit AES keys,
// each with an id, one of which is the primary. A Keyring is an envelope.KEK:
// it wraps new data keys under the primary and unwraps data keys under any
// key it holds, so that older ciphertexts stay readable after a rotation.
//
// # Keyring file
//
// The file is JSON:
//
//	{
//	  "version": 1,
//	  "primary": "local-1f2e3d4c",
//	  "keys": [
//	    {"id": "local-1f2e3d4c", "key": "<32 bytes, standard base64>", "created": "2025-01-02T03:04:05Z"}
//	  ]
//	}
//
// Key ids are 1 to 255 bytes of [A-Za-z0-9._-]; ids made by this package are
// "local-" followed by 8 hexadecimal digits. Open refuses a file, or a file
// in a directory, that group or others may access: whoever reads the file
// can read every secret.
//
// # Wrapped keys
//
// Wrap encrypts a data key with AES-256-GCM under the primary key, with the
// caller's aad as additional data, and returns the random 12-byte nonce
// followed by the ciphertext and its 16-byte tag.
//
// # Trust model
//
// The keyring file is the root of confidentiality of a server that uses it,
// and losing it loses every secret: keep a backup where the database is not.
// Key bytes are never printed; a Keyring shows only its key ids in fmt and
// log/slog output.
package localkms

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cerberus-go/cerberus/envelope"
)

const (
	fileVersion = 1
	keySize     = 32 // AES-256
	nonceSize   = 12
	tagSize     = 16
	maxIDLength = envelope.MaxKeyIDLength
	maxFileSize = 1 << 20
)

// ErrInsecurePermissions reports a keyring file, or its directory, that group
// or others may access. The error that wraps it names the path and the chmod
// command that fixes it.
var ErrInsecurePermissions = errors.New("localkms: insecure permissions")

// Keyring is a set of AES-256 keys loaded from a keyring file, one of which
// is the primary. It implements envelope.KEK and is safe for concurrent use.
type Keyring struct {
	mu      sync.RWMutex
	primary *key
	keys    []*key // in file order, oldest first
	byID    map[string]*key
}

var _ envelope.KEK = (*Keyring)(nil)

// key is one key of a keyring. It is only ever held by pointer, so that
// printing a Keyring by reflection shows addresses, not key bytes.
type key struct {
	id      string
	created time.Time
	secret  []byte
	aead    cipher.AEAD
}

// Open loads the keyring file at path.
//
// Returns an error wrapping ErrInsecurePermissions if the file or its
// directory may be accessed by group or others (mode&0o077 != 0; the check
// is skipped on Windows), and an error naming the problem if the file is not
// a valid keyring.
func Open(path string) (*Keyring, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	defer clear(data)
	k, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("localkms: keyring file %s: %w", path, err)
	}
	return k, nil
}

// Create creates a keyring file at path holding one fresh random key, which
// is the primary, and returns the keyring. The file is created with mode
// 0600 and must not exist. It appears whole, or not at all: a process that
// opens it meanwhile never reads part of it.
//
// Returns an error wrapping fs.ErrExist if the file exists, and one wrapping
// ErrInsecurePermissions if group or others may access its directory.
func Create(path string) (*Keyring, error) {
	if err := checkDir(path); err != nil {
		return nil, err
	}
	nk, err := newKey(nil)
	if err != nil {
		return nil, err
	}
	data, err := marshal(nk, []*key{nk})
	if err != nil {
		return nil, err
	}
	defer clear(data)
	if err := writeNewFile(path, data); err != nil {
		return nil, err
	}
	return &Keyring{primary: nk, keys: []*key{nk}, byID: map[string]*key{nk.id: nk}}, nil
}

// Rotate adds a fresh random key to the keyring, makes it the primary, and
// rewrites the keyring file at path atomically: it writes a temporary file
// with mode 0600 in the same directory, syncs it, and renames it over path.
// Keys that were in the keyring stay in it and keep unwrapping. It returns
// the id of the new key.
//
// The file at path must hold the same keys as k, so that a key added by
// another process is never lost; if it does not, Rotate fails and the file
// must be opened again. Rotate does not guard against another process
// rewriting the file at the same time.
func (k *Keyring) Rotate(path string) (newID string, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()

	onDisk, err := Open(path)
	if err != nil {
		return "", err
	}
	if !sameKeys(k.keys, onDisk.keys) {
		return "", fmt.Errorf("localkms: keyring file %s does not hold the same keys as this keyring; open it again before rotating", path)
	}
	nk, err := newKey(k.byID)
	if err != nil {
		return "", err
	}
	keys := append(slices.Clip(k.keys), nk)
	data, err := marshal(nk, keys)
	if err != nil {
		return "", err
	}
	defer clear(data)
	if err := replaceFile(path, data); err != nil {
		return "", err
	}
	k.keys = keys
	k.byID[nk.id] = nk
	k.primary = nk
	return nk.id, nil
}

// Reload reads the keyring file at path again and makes k hold what it
// holds: the keys that another process added (cerberus keys add) or
// removed (cerberus keys remove), and its primary key. It returns the ids
// of the keys added and removed.
//
// Returns an error, and leaves k as it was, if the file cannot be opened
// (as Open), if a key of the file has the id of a key of k but other key
// bytes, or if the file holds none of the keys of k: that file is another
// keyring, not a later version of this one.
func (k *Keyring) Reload(path string) (added, removed []string, err error) {
	onDisk, err := Open(path)
	if err != nil {
		return nil, nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, nk := range onDisk.keys {
		if old := k.byID[nk.id]; old != nil && subtle.ConstantTimeCompare(old.secret, nk.secret) != 1 {
			return nil, nil, fmt.Errorf("localkms: keyring file %s holds a key %q that differs from the key of that id in use: it is another keyring", path, nk.id)
		}
		if k.byID[nk.id] == nil {
			added = append(added, nk.id)
		}
	}
	for _, old := range k.keys {
		if onDisk.byID[old.id] == nil {
			removed = append(removed, old.id)
		}
	}
	if len(removed) == len(k.keys) {
		return nil, nil, fmt.Errorf("localkms: keyring file %s holds none of the keys in use: it is another keyring", path)
	}
	// Keys of both keep their AEAD (the same bytes).
	keys := make([]*key, len(onDisk.keys))
	byID := make(map[string]*key, len(onDisk.keys))
	for i, nk := range onDisk.keys {
		if old := k.byID[nk.id]; old != nil {
			nk = old
		}
		keys[i], byID[nk.id] = nk, nk
	}
	k.keys, k.byID, k.primary = keys, byID, byID[onDisk.primary.id]
	return added, removed, nil
}

// Remove removes the key id from the keyring and rewrites the keyring
// file at path atomically, as Rotate does. What the key wrapped can no
// longer be unwrapped: remove a key only once no record and no backup that
// is kept needs it.
//
// Returns an error if id is the primary key or is not in the keyring, or
// if the file at path does not hold the same keys as k.
func (k *Keyring) Remove(path, id string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.byID[id] == nil {
		return fmt.Errorf("localkms: key %q is not in the keyring", id)
	}
	if k.primary.id == id {
		return fmt.Errorf("localkms: key %q is the primary key; make another key the primary one first", id)
	}
	onDisk, err := Open(path)
	if err != nil {
		return err
	}
	if !sameKeys(k.keys, onDisk.keys) {
		return fmt.Errorf("localkms: keyring file %s does not hold the same keys as this keyring; open it again before removing a key", path)
	}
	keys := slices.DeleteFunc(slices.Clone(k.keys), func(kk *key) bool { return kk.id == id })
	data, err := marshal(k.primary, keys)
	if err != nil {
		return err
	}
	defer clear(data)
	if err := replaceFile(path, data); err != nil {
		return err
	}
	gone := k.byID[id]
	k.keys = keys
	delete(k.byID, id)
	clear(gone.secret)
	return nil
}

// KeyIDs returns the ids of the keys of the keyring, oldest first.
func (k *Keyring) KeyIDs() []string {
	_, all := k.ids()
	return all
}

// KeyID returns the id of the primary key.
func (k *Keyring) KeyID() string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.primary.id
}

// Wrap encrypts dataKey under the primary key with aad as additional data
// and returns the nonce followed by the sealed key.
func (k *Keyring) Wrap(ctx context.Context, dataKey, aad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k.mu.RLock()
	aead := k.primary.aead
	k.mu.RUnlock()

	out := make([]byte, nonceSize, nonceSize+len(dataKey)+tagSize)
	_, _ = rand.Read(out) // crypto/rand.Read never fails (Go 1.24+)
	return aead.Seal(out, out, dataKey, aad), nil
}

// Unwrap decrypts a data key wrapped by Wrap under the key keyID with aad.
//
// Returns an error wrapping envelope.ErrUnknownKey if the keyring does not
// hold keyID, and one wrapping envelope.ErrDecrypt if wrapped fails
// authentication.
func (k *Keyring) Unwrap(ctx context.Context, keyID string, wrapped, aad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k.mu.RLock()
	kk := k.byID[keyID]
	k.mu.RUnlock()
	if kk == nil {
		return nil, fmt.Errorf("localkms: key %q is not in the keyring: %w", keyID, envelope.ErrUnknownKey)
	}
	if len(wrapped) < nonceSize+tagSize {
		return nil, fmt.Errorf("localkms: wrapped key of %d bytes is too short: %w", len(wrapped), envelope.ErrDecrypt)
	}
	dataKey, err := kk.aead.Open(nil, wrapped[:nonceSize], wrapped[nonceSize:], aad)
	if err != nil {
		return nil, fmt.Errorf("localkms: unwrap with key %q: %w", keyID, envelope.ErrDecrypt)
	}
	return dataKey, nil
}

// ids returns the primary key id and the ids of all keys, oldest first.
func (k *Keyring) ids() (primary string, all []string) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	all = make([]string, len(k.keys))
	for i, kk := range k.keys {
		all[i] = kk.id
	}
	return k.primary.id, all
}

// String describes the keyring by its key ids; it never shows key bytes.
func (k *Keyring) String() string {
	if k == nil {
		return "<nil>"
	}
	primary, all := k.ids()
	return fmt.Sprintf("localkms.Keyring{primary: %s, keys: [%s]}", primary, strings.Join(all, " "))
}

// GoString describes the keyring by its key ids; it never shows key bytes.
func (k *Keyring) GoString() string {
	if k == nil {
		return "(*localkms.Keyring)(nil)"
	}
	primary, all := k.ids()
	return fmt.Sprintf("&localkms.Keyring{primary: %q, keys: %#v}", primary, all)
}

// Format writes GoString for %#v and String for every other verb, so that
// no verb prints key bytes.
func (k *Keyring) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, k.GoString())
		return
	}
	_, _ = io.WriteString(f, k.String())
}

// LogValue describes the keyring to log/slog by its key ids; it never shows
// key bytes.
func (k *Keyring) LogValue() slog.Value {
	if k == nil {
		return slog.StringValue("<nil>")
	}
	primary, all := k.ids()
	return slog.GroupValue(slog.String("primary", primary), slog.Any("keys", all))
}

// newKey returns a fresh random key whose id is not in taken.
func newKey(taken map[string]*key) (*key, error) {
	var id string
	for {
		var b [4]byte
		_, _ = rand.Read(b[:])
		id = "local-" + hex.EncodeToString(b[:])
		if taken[id] == nil {
			break
		}
	}
	secret := make([]byte, keySize)
	_, _ = rand.Read(secret)
	return makeKey(id, secret, time.Now().UTC().Truncate(time.Second))
}

func makeKey(id string, secret []byte, created time.Time) (*key, error) {
	block, err := aes.NewCipher(secret)
	if err != nil {
		return nil, fmt.Errorf("localkms: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("localkms: %w", err)
	}
	return &key{id: id, created: created, secret: secret, aead: aead}, nil
}

// sameKeys reports whether a and b hold the same ids with the same key
// bytes, in any order.
func sameKeys(a, b []*key) bool {
	if len(a) != len(b) {
		return false
	}
	byID := make(map[string]*key, len(b))
	for _, kb := range b {
		byID[kb.id] = kb
	}
	for _, ka := range a {
		kb := byID[ka.id]
		if kb == nil || subtle.ConstantTimeCompare(ka.secret, kb.secret) != 1 {
			return false
		}
	}
	return true
}

// The keyring file, as JSON.
type (
	fileKeyring struct {
		Version int       `json:"version"`
		Primary string    `json:"primary"`
		Keys    []fileKey `json:"keys"`
	}
	fileKey struct {
		ID      string `json:"id"`
		Key     string `json:"key"`
		Created string `json:"created"`
	}
)

func marshal(primary *key, keys []*key) ([]byte, error) {
	f := fileKeyring{Version: fileVersion, Primary: primary.id, Keys: make([]fileKey, len(keys))}
	for i, kk := range keys {
		f.Keys[i] = fileKey{
			ID:      kk.id,
			Key:     base64.StdEncoding.EncodeToString(kk.secret),
			Created: kk.created.UTC().Format(time.RFC3339),
		}
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("localkms: %w", err)
	}
	return append(data, '\n'), nil
}

// parse decodes and validates a keyring file. Its errors never quote key
// bytes.
func parse(data []byte) (*Keyring, error) {
	var v struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("not a keyring file: %w", err)
	}
	if v.Version != fileVersion {
		return nil, fmt.Errorf("unsupported version %d, want %d", v.Version, fileVersion)
	}
	var f fileKeyring
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("not a keyring file: %w", err)
	}
	if len(f.Keys) == 0 {
		return nil, errors.New("no keys")
	}
	k := &Keyring{byID: make(map[string]*key, len(f.Keys))}
	for i, fk := range f.Keys {
		if !validID(fk.ID) {
			return nil, fmt.Errorf("key %d: invalid id %q: want 1 to %d bytes of [A-Za-z0-9._-]", i, fk.ID, maxIDLength)
		}
		if k.byID[fk.ID] != nil {
			return nil, fmt.Errorf("duplicate key id %q", fk.ID)
		}
		secret, err := base64.StdEncoding.DecodeString(fk.Key)
		if err != nil {
			return nil, fmt.Errorf("key %q: key is not valid base64", fk.ID)
		}
		if len(secret) != keySize {
			clear(secret)
			return nil, fmt.Errorf("key %q: key has %d bytes, want %d", fk.ID, len(secret), keySize)
		}
		created, err := time.Parse(time.RFC3339, fk.Created)
		if err != nil {
			return nil, fmt.Errorf("key %q: created is not an RFC 3339 time: %q", fk.ID, fk.Created)
		}
		kk, err := makeKey(fk.ID, secret, created)
		if err != nil {
			return nil, err
		}
		k.keys = append(k.keys, kk)
		k.byID[kk.id] = kk
	}
	k.primary = k.byID[f.Primary]
	if k.primary == nil {
		return nil, fmt.Errorf("primary key %q is not in the keyring", f.Primary)
	}
	return k, nil
}

func validID(id string) bool {
	if id == "" || len(id) > maxIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// readFile reads the keyring file at path after checking the permissions of
// the file and of its directory.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("localkms: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("localkms: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("localkms: keyring file %s is not a regular file", path)
	}
	if err := checkPerm(path, fi.Mode()); err != nil {
		return nil, err
	}
	if err := checkDir(path); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("localkms: %w", err)
	}
	if len(data) > maxFileSize {
		clear(data)
		return nil, fmt.Errorf("localkms: keyring file %s is larger than %d bytes", path, maxFileSize)
	}
	return data, nil
}

// checkDir checks the permissions of the directory of the keyring file at
// path.
func checkDir(path string) error {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("localkms: %w", err)
	}
	return checkPerm(dir, fi.Mode())
}

// checkPerm refuses a keyring file or directory that group or others may
// access. File modes do not describe access on Windows, so it accepts
// everything there.
func checkPerm(path string, mode fs.FileMode) error {
	perm := mode.Perm()
	if runtime.GOOS == "windows" || perm&0o077 == 0 {
		return nil
	}
	if mode.IsDir() {
		return fmt.Errorf("%w: directory %s of the keyring file has mode %04o, which group or others may access; run chmod 700 %s",
			ErrInsecurePermissions, path, perm, path)
	}
	return fmt.Errorf("%w: keyring file %s has mode %04o, which group or others may access; run chmod 600 %s",
		ErrInsecurePermissions, path, perm, path)
}

// writeNewFile writes data to a new file at path with mode 0600, synced,
// and fails if the file exists. The file appears whole or not at all: data
// is written to a temporary file in the same directory, which is then
// linked to path (a link never replaces a file), so that a process that
// opens path meanwhile finds no file rather than a part of one.
func writeNewFile(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".new-*")
	if err != nil {
		return fmt.Errorf("localkms: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // path stays, linked to the same file
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close()
		return fmt.Errorf("localkms: %w", err)
	}
	if err := writeSync(f, data); err != nil {
		_ = f.Close()
		return err
	}
	if err := os.Link(tmp, path); err != nil {
		var le *os.LinkError
		if errors.As(err, &le) {
			err = le.Err // "file exists" about path, not the temporary name
		}
		return fmt.Errorf("localkms: create %s: %w", path, err)
	}
	syncDir(dir)
	return nil
}

// replaceFile replaces the file at path with data atomically: it writes a
// temporary file with mode 0600 in the same directory, syncs it, and renames
// it over path.
func replaceFile(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("localkms: %w", err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("localkms: %w", err)
	}
	if err := writeSync(f, data); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("localkms: %w", err)
	}
	syncDir(dir)
	return nil
}

// writeSync writes data to f, syncs and closes it.
func writeSync(f *os.File, data []byte) error {
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("localkms: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("localkms: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("localkms: %w", err)
	}
	return nil
}

// syncDir syncs a directory so that a file created or renamed in it lasts
// through a crash. It is best effort: the file is in place already, and some
// systems cannot sync a directory.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}
