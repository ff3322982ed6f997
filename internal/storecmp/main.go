// Command storecmp measures the embedded engines the state store could use on
// the write pattern of a cte pull: pages of random sha256 keys, each key read
// then written (a merge), one synced transaction per page; then a full scan
// and a reopen. It is its own module so that the candidates it measures are
// not dependencies of cte.
//
// CPU is the whole process (user+sys), so it includes pebble's background
// flushes and compactions; those still running when the ingest ends are
// counted in the scan column. Run one engine per process (-engine) to read
// the peak RSS column, and interleave runs on a shared machine:
//
//	cd internal/storecmp && go run . -n 390000 -engine bbolt,pebble-iter
//	go run . -n 1900000 -engine pebble-iter   # the store of a 1M-event job
package main

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	_ "modernc.org/sqlite"
)

type engine interface {
	page(keys [][]byte, val []byte) error // read each key, write it, commit with fsync
	scan() (int, error)
	close() error
}

type opener func(dir string) (engine, error)

// candidate is one engine under one configuration.
type candidate struct {
	name, label string
	open        opener
	tuned       bool // label ends with the -pebble-* flags
}

// engines are the candidates, by the name -engine takes.
var engines = []candidate{
	{"bbolt", "bbolt (sorted puts)", openBolt, false},
	{"pebble-default", "pebble/v2, default options, IndexedBatch Get+Set", pebbleOpener(pebbleConfig{read: readIndexedBatch}), false},
	{"pebble-tuned", "pebble/v2, Bloom filters, 64 MiB memtables, IndexedBatch Get+Set", pebbleOpener(pebbleConfig{read: readIndexedBatch, tuned: true}), false},
	{"pebble-get-tuned", "pebble/v2, Bloom filters, 64 MiB memtables, sorted page, DB.Get, plain batch", pebbleOpener(pebbleConfig{read: readGet, tuned: true}), false},
	{"pebble-get", "pebble/v2, sorted page, DB.Get, plain batch", pebbleOpener(pebbleConfig{read: readGet, fair: true}), true},
	{"pebble-iter", "pebble/v2, sorted page, one iterator SeekPrefixGE, plain batch", pebbleOpener(pebbleConfig{read: readIter, fair: true}), true},
	{"sqlite", "sqlite (modernc)", openSQLite, false},
}

func main() {
	n := flag.Int("n", 390000, "records (the 1M-event job stores 1,900,000)")
	pageSize := flag.Int("page", 5000, "records per page (one synced transaction)")
	only := flag.String("engine", "", "comma-separated engines to run, in order (default: all): "+engineNames())
	profile := flag.String("cpuprofile", "", "write a CPU profile of the ingests to this file")
	flag.IntVar(&pebbleTuning.memTableMiB, "pebble-memtable", pebbleTuning.memTableMiB, "MemTableSize in MiB of pebble-get and pebble-iter")
	flag.IntVar(&pebbleTuning.cacheMiB, "pebble-cache", pebbleTuning.cacheMiB, "block cache in MiB of pebble-get and pebble-iter")
	flag.StringVar(&pebbleTuning.compression, "pebble-compression", pebbleTuning.compression, "snappy, none or fastest, for pebble-get and pebble-iter")
	flag.IntVar(&pebbleTuning.l0Threshold, "pebble-l0", pebbleTuning.l0Threshold, "L0CompactionThreshold of pebble-get and pebble-iter")
	flag.BoolVar(&pebbleTuning.oldFormat, "pebble-old-format", false, "pebble-get and pebble-iter keep pebble's default (oldest) format instead of FormatNewest")
	flag.Parse()
	if err := run(*only, *profile, *n, *pageSize); err != nil {
		fmt.Fprintln(os.Stderr, "storecmp:", err)
		os.Exit(1)
	}
}

func engineNames() string {
	var s []string
	for _, e := range engines {
		s = append(s, e.name)
	}
	return strings.Join(s, ", ")
}

func run(only, profile string, n, pageSize int) error {
	if _, ok := map[string]bool{"snappy": true, "none": true, "fastest": true}[pebbleTuning.compression]; !ok {
		return fmt.Errorf("-pebble-compression %q: use snappy, none or fastest", pebbleTuning.compression)
	}
	names := strings.Split(only, ",")
	if only == "" {
		names = strings.Split(strings.ReplaceAll(engineNames(), " ", ""), ",")
	}
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Printf("| engine | ingest %d, pages of %d: CPU s | wall s | records/s | scan s | reopen s | file MB | close CPU s | peak RSS MB |\n|---|---|---|---|---|---|---|---|---|\n", n, pageSize)
	for _, name := range names {
		i := slices.IndexFunc(engines, func(e candidate) bool { return e.name == name })
		if i < 0 {
			return fmt.Errorf("-engine %q: no such engine; use one of %s", name, engineNames())
		}
		label := engines[i].label
		if engines[i].tuned {
			label += pebbleTuning.String()
		}
		if err := measure(label, engines[i].open, n, pageSize); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

func cpu() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func measure(name string, open opener, n, pageSize int) error {
	dir, err := os.MkdirTemp("", "storecmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	e, err := open(dir)
	if err != nil {
		return err
	}
	val := make([]byte, 110)
	c0, w0 := cpu(), time.Now()
	for p := 0; p*pageSize < n; p++ {
		keys := make([][]byte, 0, pageSize)
		for i := p * pageSize; i < min(n, (p+1)*pageSize); i++ {
			s := sha256.Sum256(fmt.Appendf(nil, "k%d", i))
			keys = append(keys, []byte(hex.EncodeToString(s[:])))
		}
		if err := e.page(keys, val); err != nil {
			return err
		}
	}
	ingCPU, ingWall := cpu()-c0, time.Since(w0)
	c0 = cpu()
	got, err := e.scan()
	if err != nil {
		return err
	}
	if got != n {
		return fmt.Errorf("scan found %d of %d", got, n)
	}
	scanCPU := cpu() - c0
	c0 = cpu()
	if err := e.close(); err != nil {
		return err
	}
	closeCPU := cpu() - c0
	w0 = time.Now()
	e, err = open(dir)
	if err != nil {
		return err
	}
	reopen := time.Since(w0)
	_ = e.close()
	var size int64
	_ = filepath.Walk(dir, func(_ string, fi os.FileInfo, _ error) error {
		if fi != nil && !fi.IsDir() {
			size += fi.Size()
		}
		return nil
	})
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru) // peak of the process: run one engine per process to read it
	fmt.Printf("| %s | %.2f | %.2f | %.0f | %.2f | %.3f | %.0f | %.2f | %.0f |\n", name, ingCPU.Seconds(), ingWall.Seconds(),
		float64(n)/ingWall.Seconds(), scanCPU.Seconds(), reopen.Seconds(), float64(size)/(1<<20), closeCPU.Seconds(), float64(ru.Maxrss)/1024)
	return nil
}

// bbolt: one bucket, keys sorted before the puts of a page.
type boltEngine struct{ db *bolt.DB }

func openBolt(dir string) (engine, error) {
	db, err := bolt.Open(filepath.Join(dir, "state.db"), 0o600, &bolt.Options{FreelistType: bolt.FreelistMapType, InitialMmapSize: 256 << 20})
	return &boltEngine{db}, err
}

func (b *boltEngine) page(keys [][]byte, val []byte) error {
	slices.SortFunc(keys, func(a, b []byte) int { return string2cmp(a, b) })
	return b.db.Update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists([]byte("records"))
		if err != nil {
			return err
		}
		for _, k := range keys {
			_ = bk.Get(k)
			if err := bk.Put(k, val); err != nil {
				return err
			}
		}
		return nil
	})
}

func (b *boltEngine) scan() (int, error) {
	n := 0
	err := b.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("records")).ForEach(func(k, v []byte) error { n++; return nil })
	})
	return n, err
}

func (b *boltEngine) close() error { return b.db.Close() }

func string2cmp(a, b []byte) int {
	switch {
	case string(a) < string(b):
		return -1
	case string(a) > string(b):
		return 1
	}
	return 0
}

// SQLite: a WITHOUT ROWID table, one transaction per page, synchronous=FULL in WAL mode.
type sqliteEngine struct{ db *sql.DB }

func openSQLite(dir string) (engine, error) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "state.sqlite")+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	_, err = db.Exec(`CREATE TABLE IF NOT EXISTS records (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID`)
	return &sqliteEngine{db}, err
}

func (s *sqliteEngine) page(keys [][]byte, val []byte) error {
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	get, err := tx.Prepare(`SELECT v FROM records WHERE k = ?`)
	if err != nil {
		return err
	}
	put, err := tx.Prepare(`INSERT INTO records (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`)
	if err != nil {
		return err
	}
	for _, k := range keys {
		var v []byte
		if err := get.QueryRow(k).Scan(&v); err != nil && err != sql.ErrNoRows {
			return err
		}
		if _, err := put.Exec(k, val); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (s *sqliteEngine) scan() (int, error) {
	rows, err := s.db.Query(`SELECT k, v FROM records`)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var k, v []byte
		if err := rows.Scan(&k, &v); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

func (s *sqliteEngine) close() error { return s.db.Close() }
