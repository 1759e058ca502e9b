package embedded

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Errors returned by Start for a data directory it cannot use.
var (
	// ErrDataDirInUse means another process (or another Server in this
	// one) holds the data directory's lock. Two nats-servers on one store
	// overwrite each other's files: what one acknowledged, the other
	// destroys. Each process needs its own DATA_DIR.
	ErrDataDirInUse = errors.New("embedded: data directory in use by another process")
	// ErrDataDirUnusable means the data directory or its store cannot be
	// created or written (permissions, a file in the way, a read-only or
	// full file system).
	ErrDataDirUnusable = errors.New("embedded: data directory not writable")
)

// lockName is the lock file's name inside the data directory.
const lockName = "LOCK"

// lockDataDir creates dataDir and storeDir, takes the exclusive lock on
// dataDir/LOCK (which then holds this process's id, for the error a second
// process gets), and checks that storeDir is writable. The lock lasts until
// the returned file is closed.
func lockDataDir(dataDir, storeDir string) (*os.File, error) {
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrDataDirUnusable, dataDir, err)
	}
	path := filepath.Join(dataDir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrDataDirUnusable, dataDir, err)
	}
	held, err := flock(f)
	if held {
		var b [32]byte
		n, _ := f.ReadAt(b[:], 0)
		f.Close()
		owner := "another process"
		if pid := strings.TrimSpace(string(b[:n])); pid != "" {
			if _, err := strconv.Atoi(pid); err == nil {
				owner = "pid " + pid
			}
		}
		return nil, fmt.Errorf("%w: %s (lock %s held by %s); give each process its own DATA_DIR", ErrDataDirInUse, dataDir, path, owner)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("embedded: lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err == nil {
		err = checkWritable(storeDir)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s: %w", ErrDataDirUnusable, dataDir, err)
	}
	return f, nil
}

// checkWritable creates dir and a file in it, so that a store nats-server
// cannot write fails here at once and not as a server that never becomes
// ready.
func checkWritable(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return err
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}
