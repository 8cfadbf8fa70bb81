//go:build !unix

package main

// lockDataDir does not lock the data directory where flock(2) is missing:
// nothing stops a second server there.
func lockDataDir(string) (release func(), err error) { return func() {}, nil }
