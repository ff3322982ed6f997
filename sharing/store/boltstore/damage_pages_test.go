package boltstore_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/boltstore"
	"github.com/ctexchange/cte/sharing/store/storetest"
)

// damagedCopies fills a state file, then writes n copies of it, each with
// parts of one page overwritten (random bytes over its body, a few bytes, or
// its header), from one seed, and calls fn with each copy's path; the copy
// is removed after.
func damagedCopies(t *testing.T, n int, fn func(trial, page, mode int, path string)) {
	t.Helper()
	dir := t.TempDir()
	orig := filepath.Join(dir, "orig.db")
	fill(t, orig, 6)
	data, err := os.ReadFile(orig)
	require.NoError(t, err)
	const ps = 16 << 10
	pages := len(data) / ps
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range n {
		b := append([]byte(nil), data...)
		p := 2 + rng.IntN(pages-2)
		mode := rng.IntN(3)
		switch mode {
		case 0: // random bytes over the page body
			for i := p*ps + 16; i < (p+1)*ps; i++ {
				b[i] = byte(rng.IntN(256))
			}
		case 1: // a few random bytes
			for range 8 {
				b[p*ps+rng.IntN(ps)] = byte(rng.IntN(256))
			}
		case 2: // page header garbled
			for i := p * ps; i < p*ps+16; i++ {
				b[i] = byte(rng.IntN(256))
			}
		}
		path := filepath.Join(dir, fmt.Sprint(trial, ".db"))
		require.NoError(t, os.WriteFile(path, b, 0o600))
		fn(trial, p, mode, path)
		require.NoError(t, os.Remove(path))
	}
}

// TestDamagedPagesNeverPanic reads, writes and checks 12 damaged copies of a
// file (damagedCopies): no panic escapes the store, and what fails says the
// file is damaged. A garbled page's offsets made bbolt slice out of range, a
// runtime error that was raised again and crashed the process.
func TestDamagedPagesNeverPanic(t *testing.T) {
	t.Parallel()
	escaped := map[string]int{}
	var notDamaged []string
	damagedCopies(t, 12, func(trial, p, mode int, path string) {
		defer func() {
			if v := recover(); v != nil {
				msg := fmt.Sprint(v)
				if len(msg) > 120 {
					msg = msg[:120]
				}
				escaped[msg]++
				if escaped[msg] == 1 {
					t.Logf("trial %d page %d mode %d: panic escaped: %v\n%s", trial, p, mode, v, firstFrames(debug.Stack()))
				}
			}
		}()
		s, err := boltstore.Open(path, boltstore.WithLockTimeout(time.Millisecond))
		if err != nil {
			return
		}
		defer s.Close()
		ctx := t.Context()
		errs := []error{}
		_, err = countRecords(ctx, s)
		errs = append(errs, err)
		errs = append(errs, s.View(ctx, func(tx sharing.Tx) error {
			for i := range 200 {
				if _, _, err := tx.Record(storetest.Page(i/2000, 2000)[i%2000].Value); err != nil {
					return err
				}
			}
			return tx.(sharing.RankedTx).Ranked("src", func(string, ioc.Type) error { return nil })
		}))
		errs = append(errs, s.Update(ctx, func(tx sharing.Tx) error {
			_, err := tx.Merge("src", storetest.Page(7, 2000), time.Now())
			return err
		}))
		for _, e := range errs {
			if e != nil && !errors.Is(e, boltstore.ErrDamaged) && !strings.Contains(e.Error(), "corrupt") {
				notDamaged = append(notDamaged, e.Error())
			}
		}
	})
	for m, n := range escaped {
		t.Errorf("%d× escaped panic: %s", n, m)
	}
	for i, m := range notDamaged {
		if i < 5 {
			t.Errorf("error without ErrDamaged: %.300s", m)
		}
	}
}

func firstFrames(s []byte) string {
	lines := strings.Split(string(s), "\n")
	var out []string
	for _, l := range lines {
		if strings.Contains(l, ".go:") {
			out = append(out, strings.TrimSpace(l))
		}
		if len(out) > 12 {
			break
		}
	}
	return strings.Join(out, "\n")
}

// TestCheckDamagedPages checks 60 damaged copies of a file (damagedCopies):
// Check says each is damaged or sound, and never takes the process down. A
// page reference past the end of the file faulted in the goroutine bbolt's
// Check reads pages in, where no fault is recovered: cte state check, the
// tool for a damaged file, crashed on one (trial 45 here).
func TestCheckDamagedPages(t *testing.T) {
	t.Parallel()
	damagedCopies(t, 60, func(trial, p, _ int, path string) {
		s, err := boltstore.Open(path, boltstore.WithLockTimeout(time.Millisecond))
		if err != nil {
			return // refused at open: damage found already
		}
		defer s.Close()
		if err := s.Check(t.Context()); err != nil {
			require.ErrorIs(t, err, boltstore.ErrDamaged, "trial %d page %d", trial, p)
		}
	})
}
