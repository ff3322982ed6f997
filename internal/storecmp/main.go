// Command storecmp measures the embedded engines the state store could use on
// the write pattern of a cte pull: pages of random sha256 keys, each key read
// then written (a merge), one synced transaction per page; then a full scan
// and a reopen. It is its own module so that the candidates it measures are
// not dependencies of cte.
//
//	cd internal/storecmp && go run . -n 390000
package main

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	bolt "go.etcd.io/bbolt"
	_ "modernc.org/sqlite"
)

type engine interface {
	page(keys [][]byte, val []byte) error // read each key, write it, commit with fsync
	scan() (int, error)
	close() error
}

type opener func(dir string) (engine, error)

func main() {
	n := flag.Int("n", 390000, "records")
	pageSize := flag.Int("page", 5000, "records per page (one synced transaction)")
	only := flag.String("engine", "", "bbolt, pebble or sqlite (default: all)")
	flag.Parse()
	engines := []struct {
		name string
		open opener
	}{{"bbolt (sorted puts)", openBolt}, {"pebble/v2", openPebble}, {"sqlite (modernc)", openSQLite}}
	fmt.Printf("| engine | ingest %d, pages of %d: CPU s | wall s | records/s | scan s | reopen s | file MB |\n|---|---|---|---|---|---|---|\n", *n, *pageSize)
	for _, e := range engines {
		if *only != "" && *only != e.name[:len(*only)] {
			continue
		}
		if err := measure(e.name, e.open, *n, *pageSize); err != nil {
			fmt.Fprintln(os.Stderr, e.name, err)
			os.Exit(1)
		}
	}
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
	if err := e.close(); err != nil {
		return err
	}
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
	fmt.Printf("| %s | %.2f | %.2f | %.0f | %.2f | %.3f | %.0f |\n", name, ingCPU.Seconds(), ingWall.Seconds(),
		float64(n)/ingWall.Seconds(), scanCPU.Seconds(), reopen.Seconds(), float64(size)/(1<<20))
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

// pebble: one indexed batch per page, committed with Sync.
type pebbleEngine struct{ db *pebble.DB }

type quiet struct{}

func (quiet) Infof(string, ...any)  {}
func (quiet) Errorf(string, ...any) {}
func (quiet) Fatalf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, f, a...)
	os.Exit(1)
}

func openPebble(dir string) (engine, error) {
	// Tuned as a store would be: Bloom filters (a merge reads every key,
	// most of them absent) and 64 MiB memtables.
	o := &pebble.Options{Logger: quiet{}, MemTableSize: 64 << 20}
	for i := range o.Levels {
		o.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	db, err := pebble.Open(filepath.Join(dir, "pebble"), o)
	return &pebbleEngine{db}, err
}

func (p *pebbleEngine) page(keys [][]byte, val []byte) error {
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
