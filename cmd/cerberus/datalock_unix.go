//go:build unix

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// lockDataDir takes an exclusive lock on the data directory dir, held by
// the open file <dir>/server.lock until release is called or the process
// ends, however it ends. The file says which process holds the lock, for
// the message of the server it refuses.
//
// Returns an error naming the holder if another process holds the lock.
func lockDataDir(dir string) (release func(), err error) {
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot open the lock file of the data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder, _ := io.ReadAll(io.LimitReader(f, 200))
			who := strings.TrimSpace(string(holder))
			if who == "" {
				who = "a process that is starting"
			}
			return nil, fmt.Errorf("another cerberus server is serving the data directory %s (%s, from %s): on SQLite, one server serves a data directory. Stop that server, or give this one another --data (CERBERUS_DATA); to run several nodes, use --storage postgres or mysql", dir, who, path)
		}
		return nil, fmt.Errorf("cannot lock the data directory (%s): %w", path, err)
	}
	holder := fmt.Sprintf("pid %d, since %s\n", os.Getpid(), time.Now().UTC().Format(time.RFC3339))
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(holder), 0) // only for the message of a refused server
	}
	return func() { f.Close() }, nil // the file stays: removing it would race with a process that opened it
}
