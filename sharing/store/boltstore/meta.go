package boltstore

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"os"
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
// of the process. A file without a valid meta is left to bbolt, which
// refuses it cleanly.
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
	var best struct{ txid, pgid, freelist, pageSize uint64 }
	found := false
	buf := make([]byte, pageHeader+metaSumAt+8)
	for _, off := range []int64{0, -1} {
		if off < 0 {
			if !found {
				break // page 1 is where page 0's page size says
			}
			off = int64(best.pageSize)
		}
		if _, err := f.ReadAt(buf, off); err != nil && err != io.EOF {
			continue
		}
		m := buf[pageHeader:]
		if binary.LittleEndian.Uint32(m[0:]) != metaMagic {
			continue
		}
		h := fnv.New64a()
		h.Write(m[:metaSumAt])
		if h.Sum64() != binary.LittleEndian.Uint64(m[metaSumAt:]) {
			continue
		}
		ps := uint64(binary.LittleEndian.Uint32(m[8:]))
		txid := binary.LittleEndian.Uint64(m[48:])
		if ps < minPageSize || (found && txid <= best.txid) {
			continue
		}
		best.txid, best.pageSize = txid, ps
		best.freelist, best.pgid = binary.LittleEndian.Uint64(m[32:]), binary.LittleEndian.Uint64(m[40:])
		found = true
	}
	if !found {
		return nil
	}
	size := uint64(fi.Size())
	if best.pgid*best.pageSize > size || (best.freelist != noFreelist && best.freelist >= best.pgid) {
		return fmt.Errorf("boltstore: %w: %s is %d bytes but its last commit uses %d (truncated); %s",
			ErrDamaged, path, size, best.pgid*best.pageSize, damagedHint)
	}
	return nil
}
