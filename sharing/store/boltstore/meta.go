package boltstore

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"os"

	berrors "go.etcd.io/bbolt/errors"
)

// bbolt's file header, as its internal/common package lays it out: two meta
// pages, each a 16-byte page header then the meta.
const (
	pageHeader  = 16
	metaMagic   = 0xED0CDAED
	metaSumAt   = 56 // the checksum follows the meta's first 56 bytes
	noFreelist  = ^uint64(0)
	minPageSize = 512
)

// checkMeta refuses, before bbolt maps the file, a file whose newest valid
// meta page names pages beyond its end (a truncated copy): bbolt would read
// them while opening, and a panic there keeps the file locked for the rest
// of the process. A file without a valid meta page is refused as not a cte
// store.
func checkMeta(path string) error {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("boltstore: open state file %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("boltstore: open state file %s: %w", path, err)
	}
	switch {
	case fi.IsDir():
		return nil // opening it says it is a directory
	case !fi.Mode().IsRegular():
		return fmt.Errorf("boltstore: state file %s is not a regular file (%s): give the path of a state file, or of one to create", path, fi.Mode().Type())
	}
	var best struct{ txid, pgid, freelist, pageSize uint64 }
	found := false
	buf := make([]byte, pageHeader+metaSumAt+8)
	read := func(off int64) {
		if n, _ := f.ReadAt(buf, off); n < len(buf) {
			return
		}
		m := buf[pageHeader:]
		if binary.LittleEndian.Uint32(m[0:]) != metaMagic {
			return
		}
		h := fnv.New64a()
		h.Write(m[:metaSumAt])
		if h.Sum64() != binary.LittleEndian.Uint64(m[metaSumAt:]) {
			return
		}
		ps := uint64(binary.LittleEndian.Uint32(m[8:]))
		txid := binary.LittleEndian.Uint64(m[48:])
		if ps < minPageSize || (found && txid <= best.txid) {
			return
		}
		best.txid, best.pageSize = txid, ps
		best.freelist, best.pgid = binary.LittleEndian.Uint64(m[32:]), binary.LittleEndian.Uint64(m[40:])
		found = true
	}
	read(0)
	if found {
		read(int64(best.pageSize)) // page 1 is where page 0's page size says
	} else {
		// page 1 may still be a meta page: where each page size bbolt
		// accepts would put it, as bbolt looks for it
		for off := int64(1024); off <= 16<<20 && off < fi.Size() && !found; off <<= 1 {
			read(off)
		}
	}
	if !found {
		// bbolt would take the page size of the options for this file (16
		// KiB), and fail on a small one with another error than a file
		// that is not a database
		return fmt.Errorf("boltstore: state file %s is not a cte store (%w: no valid meta page): check the path; if it is the state file, it is damaged: %s",
			path, berrors.ErrInvalid, damagedHint)
	}
	size := uint64(fi.Size())
	if best.pgid*best.pageSize > size || (best.freelist != noFreelist && best.freelist >= best.pgid) {
		return fmt.Errorf("boltstore: %w: %s is %d bytes but its last commit uses %d (truncated); %s",
			ErrDamaged, path, size, best.pgid*best.pageSize, damagedHint)
	}
	return nil
}
