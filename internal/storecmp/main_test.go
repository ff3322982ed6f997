package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

// Every candidate stores every record of a small run, finds them all in the
// scan and opens again (measure fails otherwise).
func TestEveryEngineStoresEveryRecord(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			if err := measure(e.label, e.open, 1200, 500); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A page that holds a key twice stores it once, in every engine.
func TestPageWithRepeatedKeys(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			eng, err := e.open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer eng.close()
			var keys [][]byte
			for i := range 10 {
				s := sha256.Sum256(fmt.Appendf(nil, "k%d", i%4))
				keys = append(keys, []byte(hex.EncodeToString(s[:])))
			}
			if err := eng.page(keys, []byte("v")); err != nil {
				t.Fatal(err)
			}
			if err := eng.page(keys[:3], []byte("w")); err != nil {
				t.Fatal(err)
			}
			if n, err := eng.scan(); err != nil || n != 4 {
				t.Fatalf("scan found %d records (err %v), want 4", n, err)
			}
		})
	}
}

func TestRunRejectsUnknownEngineAndCompression(t *testing.T) {
	if err := run("bbolt,nosuch", "", 10, 5); err == nil || !strings.Contains(err.Error(), `"nosuch"`) {
		t.Errorf("run with engine nosuch: %v, want an error naming it", err)
	}
	old := pebbleTuning.compression
	defer func() { pebbleTuning.compression = old }()
	pebbleTuning.compression = "lz4"
	if err := run("pebble-get", "", 10, 5); err == nil || !strings.Contains(err.Error(), `"lz4"`) {
		t.Errorf("run with compression lz4: %v, want an error naming it", err)
	}
}

func TestRunWritesProfile(t *testing.T) {
	if err := run("pebble-iter", t.TempDir()+"/missing/cpu.out", 10, 5); err == nil {
		t.Error("run with a profile in a missing directory: no error")
	}
}
