package main

import (
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/boltstore"
)

// openStateFile opens (creating it if needed) the bbolt state file at path. While
// "cte run" holds it, other commands wait a second for the lock, then fail
// with a message saying the file is in use.
func openStateFile(path string) (sharing.Store, error) {
	return boltstore.Open(path)
}
