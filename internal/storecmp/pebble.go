package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/sstable/block"
)

// pebbleRead is how a page reads its keys before writing them.
type pebbleRead int

const (
	// readIndexedBatch is the first measurement: Get and Set on one
	// IndexedBatch, keys in the order they came.
	readIndexedBatch pebbleRead = iota
	// readGet sorts and dedupes the page, reads each key with DB.Get (a
	// point lookup that consults the Bloom filters, except those of L6,
	// which DB.Get never reads), and writes a plain batch.
	readGet
	// readIter sorts and dedupes the page and reads it with one iterator,
	// SeekPrefixGE key after key (Bloom filters, and each seek may continue
	// from the last), with UseL6Filters: pebble skips the filters of the last
	// level unless told (IterOptions.UseL6Filters: "Helpful if a lot of
	// SeekPrefixGEs are expected in quick succession, that are also likely to
	// not yield a single key", which is a merge of new indicators), then
	// writes a plain batch.
	readIter
)

// pebbleConfig is one pebble variant.
type pebbleConfig struct {
	read  pebbleRead
	tuned bool // Bloom filters and 64 MiB memtables (the first tuning)
	fair  bool // the options a pebble user would set for this store (below)
}

// pebbleTuning holds the knobs of the fair variants, set by flags.
var pebbleTuning = pebbleTuneFlags{memTableMiB: 32, cacheMiB: 128, compression: "snappy", l0Threshold: 8}

// pebbleTuneFlags are the options of the fair variants that flags change.
type pebbleTuneFlags struct {
	memTableMiB int
	cacheMiB    int
	compression string
	l0Threshold int
	oldFormat   bool
}

// String describes the tuning for a table row.
func (t pebbleTuneFlags) String() string {
	f := "FormatNewest"
	if t.oldFormat {
		f = "default format"
	}
	return fmt.Sprintf("; %s, Bloom filters, %d MiB memtables, %d MiB cache, %s, L0 threshold %d",
		f, t.memTableMiB, t.cacheMiB, t.compression, t.l0Threshold)
}

// pebbleEngine is pebble under one of its configurations.
type pebbleEngine struct {
	db  *pebble.DB
	cfg pebbleConfig
}

type quiet struct{}

func (quiet) Infof(string, ...any)  {}
func (quiet) Errorf(string, ...any) {}
func (quiet) Fatalf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, f, a...)
	os.Exit(1)
}

func pebbleOpener(cfg pebbleConfig) opener {
	return func(dir string) (engine, error) {
		db, err := pebble.Open(filepath.Join(dir, "pebble"), pebbleOptions(cfg))
		return &pebbleEngine{db, cfg}, err
	}
}

func pebbleOptions(cfg pebbleConfig) *pebble.Options {
	o := &pebble.Options{Logger: quiet{}}
	switch {
	case cfg.tuned:
		// The first tuning: Bloom filters (a merge reads every key, most
		// of them absent) and 64 MiB memtables.
		o.MemTableSize = 64 << 20
		for i := range o.Levels {
			o.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		}
	case cfg.fair:
		// The newest on-disk format (columnar blocks, what CockroachDB
		// runs), Bloom filters on every level (each merge looks up absent
		// keys), larger memtables (fewer flushes), L0 compacted after 8
		// sublevels rather than 4 (random keys overlap the whole base
		// level, so each L0 compaction rewrites it), and a block cache
		// larger than the memtables: pebble reserves the memtables' memory
		// from the block cache (DB.newMemTable calls Cache.Reserve), so
		// the first tuning (64 MiB memtables, default 8 MiB cache) cached
		// nothing, and a merge read every filter block from the file
		// again (at 1,900,000 records, 28 of 50 CPU s in block reads).
		t := pebbleTuning
		o.FormatMajorVersion = pebble.FormatNewest
		if t.oldFormat {
			o.FormatMajorVersion = pebble.FormatDefault
		}
		o.MemTableSize = uint64(t.memTableMiB) << 20
		o.CacheSize = int64(t.cacheMiB) << 20
		o.L0CompactionThreshold = t.l0Threshold
		o.L0StopWritesThreshold = max(12, 3*t.l0Threshold)
		prof := map[string]*block.CompressionProfile{
			"snappy": block.SnappyCompression, "none": block.NoCompression,
			"fastest": block.FastestCompression,
		}[t.compression]
		for i := range o.Levels {
			o.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
			o.Levels[i].Compression = func() *block.CompressionProfile { return prof }
		}
	}
	return o
}

func (p *pebbleEngine) page(keys [][]byte, val []byte) error {
	if p.cfg.read == readIndexedBatch {
		return p.pageIndexed(keys, val)
	}
	slices.SortFunc(keys, string2cmp)
	keys = slices.CompactFunc(keys, func(a, b []byte) bool { return string(a) == string(b) })
	var err error
	if p.cfg.read == readGet {
		err = p.readGet(keys)
	} else {
		err = p.readIter(keys)
	}
	if err != nil {
		return err
	}
	b := p.db.NewBatchWithSize(len(keys) * (len(keys[0]) + len(val) + 8))
	defer b.Close()
	for _, k := range keys {
		if err := b.Set(k, val, nil); err != nil {
			return err
		}
	}
	return b.Commit(pebble.Sync)
}

// pageIndexed is the first measurement, kept as it was.
func (p *pebbleEngine) pageIndexed(keys [][]byte, val []byte) error {
	b := p.db.NewIndexedBatch()
	for _, k := range keys {
		if _, c, err := b.Get(k); err == nil {
			c.Close()
		} else if err != pebble.ErrNotFound {
			return err
		}
		if err := b.Set(k, val, nil); err != nil {
			return err
		}
	}
	return b.Commit(pebble.Sync)
}

func (p *pebbleEngine) readGet(keys [][]byte) error {
	for _, k := range keys {
		v, c, err := p.db.Get(k)
		if errors.Is(err, pebble.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		sink += len(v)
		if err := c.Close(); err != nil {
			return err
		}
	}
	return nil
}

func (p *pebbleEngine) readIter(keys [][]byte) error {
	it, err := p.db.NewIter(&pebble.IterOptions{UseL6Filters: true})
	if err != nil {
		return err
	}
	for _, k := range keys {
		if it.SeekPrefixGE(k) {
			sink += len(it.Value())
		}
	}
	return it.Close()
}

// sink keeps the values read from being optimized away.
var sink int

func (p *pebbleEngine) scan() (int, error) {
	it, err := p.db.NewIter(nil)
	if err != nil {
		return 0, err
	}
	n := 0
	for it.First(); it.Valid(); it.Next() {
		_ = it.Value()
		n++
	}
	return n, it.Close()
}

func (p *pebbleEngine) close() error { return p.db.Close() }
