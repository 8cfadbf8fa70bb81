package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cerberus-go/cerberus/envelope"
	"github.com/cerberus-go/cerberus/localkms"
	"github.com/cerberus-go/cerberus/service"
)

// How a server follows the keys of `cerberus keys add`, `rotate` and
// `remove` without a restart (docs/operations.md, "Key rotation"):
//   - the local key ring is read again on SIGHUP, when the file changed
//     (checked every keyRingCheckEvery), and when a record names a key
//     that the ring does not hold but the file may;
//   - every node reports its keys through the store every nodeReportEvery
//     and after each reload, and `keys rotate` refuses while a node seen
//     within nodeLiveFor does not know the primary key.
const (
	keyRingCheckEvery = 10 * time.Second
	nodeReportEvery   = 15 * time.Second
	nodeLiveFor       = 3 * nodeReportEvery
	// nodeStaleAfter is when the report of a node that stopped without a
	// word is deleted.
	nodeStaleAfter = time.Hour
)

// keyRingFile is the local key ring of a server, read again from its file
// when it changes. It implements envelope.KEK.
type keyRingFile struct {
	*localkms.Keyring
	path   string
	logger *slog.Logger
	// changed, if not nil, is called after a reload that changed the keys.
	changed func()

	mu     sync.Mutex
	loaded os.FileInfo // the file as last read
}

var _ envelope.KEK = (*keyRingFile)(nil)

// openKeyRingFile wraps kr, just read from path.
func openKeyRingFile(kr *localkms.Keyring, path string, logger *slog.Logger) *keyRingFile {
	f := &keyRingFile{Keyring: kr, path: path, logger: logger}
	f.loaded, _ = os.Stat(path)
	return f
}

// Unwrap implements envelope.KEK. A data key under a key that the ring
// does not hold makes it read the file again, if it changed, and try once
// more: another process may have added the key (cerberus keys add).
func (f *keyRingFile) Unwrap(ctx context.Context, keyID string, wrapped, aad []byte) ([]byte, error) {
	dk, err := f.Keyring.Unwrap(ctx, keyID, wrapped, aad)
	if errors.Is(err, envelope.ErrUnknownKey) && f.Reload(false, "a record is under the key "+keyID+", which the key ring in memory does not hold") {
		return f.Keyring.Unwrap(ctx, keyID, wrapped, aad)
	}
	return dk, err
}

// Reload reads the key ring file again if it changed since it was last
// read, or in any case with force, and logs what changed. A file that
// does not load is refused with a log line, and the keys in use kept. It
// reports whether the keys changed.
func (f *keyRingFile) Reload(force bool, reason string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	fi, err := os.Stat(f.path)
	if err == nil && !force && f.loaded != nil && os.SameFile(fi, f.loaded) && fi.ModTime().Equal(f.loaded.ModTime()) && fi.Size() == f.loaded.Size() {
		return false
	}
	oldPrimary := f.KeyID()
	added, removed, err := f.Keyring.Reload(f.path)
	if err != nil {
		f.logger.Error("refused the key ring file; still using the keys in memory", "path", f.path, "reason", reason, "err", err)
		f.loaded = fi // not again until it changes
		return false
	}
	f.loaded = fi
	if len(added) == 0 && len(removed) == 0 && f.KeyID() == oldPrimary {
		if force {
			f.logger.Info("read the key ring again: no change", "path", f.path, "primary", f.KeyID())
		}
		return false
	}
	f.logger.Info("reloaded the key ring", "path", f.path, "reason", reason, "primary", f.KeyID(), "keys", f.KeyIDs(),
		"added", added, "removed", removed)
	if f.changed != nil {
		f.changed()
	}
	return true
}

// keyRingOf returns the local key ring file under kek, or nil.
func keyRingOf(kek envelope.KEK) *keyRingFile {
	switch k := kek.(type) {
	case *keyRingFile:
		return k
	case *meteredKEK:
		return keyRingOf(k.KEK)
	}
	return nil
}

// nodeReporter reports this server's keys through the store.
type nodeReporter struct {
	svc    *service.Service
	keys   func() (primary string, ids []string)
	logger *slog.Logger
	rec    service.NodeRecord
}

func newNodeReporter(svc *service.Service, keys func() (string, []string), logger *slog.Logger) *nodeReporter {
	var b [8]byte
	_, _ = rand.Read(b[:])
	host, _ := os.Hostname()
	return &nodeReporter{svc: svc, keys: keys, logger: logger, rec: service.NodeRecord{
		ID: hex.EncodeToString(b[:]), Host: host, PID: os.Getpid(), StartedAt: time.Now().UTC(),
	}}
}

// report stores the node's report; a failure is logged, and the next
// report tries again.
func (r *nodeReporter) report(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rec := r.rec
	rec.SeenAt = time.Now().UTC()
	rec.PrimaryKey, rec.KeyIDs = r.keys()
	if err := r.svc.ReportNode(ctx, &rec); err != nil {
		r.logger.Warn("could not report this node's keys through the store (keys rotate waits for it)", "err", err)
	}
}

// forget deletes the node's report, as the server stops.
func (r *nodeReporter) forget() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := r.svc.ForgetNode(ctx, r.rec.ID, nodeStaleAfter); err != nil {
		r.logger.Warn("could not delete this node's report from the store", "err", err)
	}
}

// nodesWithoutKey returns a line for each node seen within nodeLiveFor that
// does not know the key id.
func nodesWithoutKey(ctx context.Context, svc *service.Service, id string) ([]string, error) {
	nodes, err := svc.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	now := time.Now()
	for _, n := range nodes {
		if now.Sub(n.SeenAt) > nodeLiveFor || slices.Contains(n.KeyIDs, id) {
			continue
		}
		out = append(out, "node "+n.ID+" on "+n.Host+" (pid "+strconv.Itoa(n.PID)+", seen "+now.Sub(n.SeenAt).Round(time.Second).String()+
			" ago) knows "+strings.Join(n.KeyIDs, ", "))
	}
	return out, nil
}

// nodesWritingWith returns a line for each node seen within nodeLiveFor
// whose primary key is id.
func nodesWritingWith(ctx context.Context, svc *service.Service, id string) ([]string, error) {
	nodes, err := svc.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	now := time.Now()
	for _, n := range nodes {
		if now.Sub(n.SeenAt) <= nodeLiveFor && n.PrimaryKey == id {
			out = append(out, "node "+n.ID+" on "+n.Host+" (pid "+strconv.Itoa(n.PID)+")")
		}
	}
	return out, nil
}
