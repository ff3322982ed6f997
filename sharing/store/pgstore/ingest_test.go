package pgstore_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/internal/pgtest"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/sharing"
	"github.com/ctexchange/cte/sharing/store/boltstore"
	"github.com/ctexchange/cte/sharing/store/storetest"
)

// roundTripIndicators covers what the binary COPY encodes: times with
// nanoseconds, before 1970 and 2000, far ahead, in another zone, none; no,
// empty and several tags; unicode; extreme reputations and severities; a
// row longer than a COPY message.
func roundTripIndicators() []ioc.Indicator {
	cet := time.FixedZone("CET", 3600)
	ns := time.Date(2026, 11, 1, 10, 0, 0, 123456789, cet)
	return []ioc.Indicator{
		{Type: ioc.TypeSHA256, Value: storetest.Hash(1), Severity: ioc.SeverityHigh, Reputation: 7, Comments: "plain",
			Tags: []string{"b", "a"}, FirstSeen: ns, LastSeen: ns.Add(999), ExpiresAt: ns.Add(time.Hour + 1)},
		{Type: ioc.TypeDomain, Value: "example.com", Reputation: -2147483648, Comments: "héllo wörld, 日本語, 🦀, e\u0301",
			Tags: []string{}, LastSeen: time.Date(1999, 12, 31, 23, 59, 59, 999999999, cet)},
		{Type: ioc.TypeIPv4, Value: "192.0.2.1", Severity: ioc.Severity(255), Reputation: 2147483647,
			Tags:      []string{"ünï", "", "x y"},
			FirstSeen: time.Date(1960, 1, 1, 0, 0, 0, 1, time.UTC), ExpiresAt: time.Date(200000, 12, 31, 23, 59, 59, 999, time.UTC)},
		{Type: ioc.TypeSHA256, Value: storetest.Hash(2)},
		{Type: ioc.TypeSHA256, Value: storetest.Hash(3), Comments: strings.Repeat("é", 100_000)}, // rows over the COPY's 64 KiB messages
	}
}

// Entries written in the binary COPY format (new entries, changed ones
// through the temporary table, PutRecord) read back exactly as the embedded
// store gives them.
func TestEntriesRoundTrip(t *testing.T) {
	t.Parallel()
	pg := open(t, pgtest.DSN(t))
	bolt, err := boltstore.Open(filepath.Join(t.TempDir(), "state.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = bolt.Close() })

	in := roundTripIndicators()
	later := roundTripIndicators()
	later[0].Tags, later[0].LastSeen, later[0].Comments = []string{"c"}, later[0].LastSeen.Add(time.Microsecond+7), "newer"
	later[3].Tags, later[3].ExpiresAt = []string{"t"}, time.Date(2030, 1, 1, 0, 0, 0, 5, time.UTC)
	now := time.Date(2026, 11, 2, 0, 0, 0, 999, time.UTC)
	cet := time.FixedZone("CET", 3600)
	put := sharing.Record{Type: ioc.TypeHostname, Value: "host.example.org", Entries: []sharing.Entry{
		{Indicator: ioc.Indicator{Type: ioc.TypeHostname, Value: "host.example.org", Source: "a", Comments: "ça",
			FirstSeen: time.Date(2026, 1, 1, 0, 0, 0, 1, cet)},
			Inactive: true, InactiveAt: time.Date(2026, 2, 1, 0, 0, 0, 1023, cet), StoredAt: time.Date(2026, 3, 1, 0, 0, 0, 17, cet)},
		{Indicator: ioc.Indicator{Type: ioc.TypeHostname, Value: "host.example.org", Source: "b", Tags: []string{"z"}},
			StoredAt: time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC)},
	}}
	for _, s := range []sharing.Store{pg, bolt} {
		require.NoError(t, s.Update(t.Context(), func(tx sharing.Tx) error {
			if _, err := tx.Merge("feed", in, now); err != nil {
				return err
			}
			if _, err := tx.Merge("other", in[:2], now.Add(1)); err != nil {
				return err
			}
			return tx.PutRecord(put)
		}))
		require.NoError(t, s.Update(t.Context(), func(tx sharing.Tx) error {
			_, err := tx.Merge("feed", later, now.Add(time.Hour+3))
			return err
		}))
	}
	for _, v := range []string{in[0].Value, in[1].Value, in[2].Value, in[3].Value, in[4].Value, put.Value} {
		want := read(t, bolt, v)
		assert.Equal(t, want, read(t, pg, v), v)
	}
	got := read(t, pg, in[2].Value)
	require.Len(t, got.Entries, 1)
	e := got.Entries[0]
	assert.True(t, e.FirstSeen.Equal(in[2].FirstSeen) && e.ExpiresAt.Equal(in[2].ExpiresAt), "exact times: %+v", e)
	assert.Equal(t, []string{"", "x y", "ünï"}, e.Tags)
	assert.Equal(t, put.Entries[0].InactiveAt.UTC(), read(t, pg, put.Value).Entries[0].InactiveAt)
}

func read(t *testing.T, s sharing.Store, value string) sharing.Record {
	t.Helper()
	var r sharing.Record
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		var ok bool
		var err error
		r, ok, err = tx.Record(value)
		require.True(t, ok, value)
		return err
	}))
	return r
}

// What PostgreSQL would refuse is refused before it is sent, naming the
// indicator, and the transaction goes on; what the server refuses fails the
// merge with the server's reason.
func TestIngestErrors(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	s := open(t, dsn)
	now := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	nul := ioc.Indicator{Type: ioc.TypeDomain, Value: "nul.example", Comments: "a\x00b"}
	ok := ioc.Indicator{Type: ioc.TypeDomain, Value: "ok.example"}
	require.NoError(t, s.Update(t.Context(), func(tx sharing.Tx) error {
		_, err := tx.Merge("feed", []ioc.Indicator{ok, nul}, now)
		require.ErrorContains(t, err, `pgstore: merge: indicator "nul.example" of "feed": a NUL byte or invalid UTF-8 in its comments`)
		require.ErrorContains(t, err, "clean it at the source")
		err = tx.PutRecord(sharing.Record{Type: nul.Type, Value: nul.Value, Entries: []sharing.Entry{{Indicator: func() ioc.Indicator {
			x := nul
			x.Source = "feed"
			return x
		}()}}})
		require.ErrorContains(t, err, `pgstore: put record: indicator "nul.example" of "feed"`)
		_, err = tx.Merge("feed", []ioc.Indicator{ok}, now)
		return err // the transaction is still usable
	}))
	assert.Equal(t, []string{"feed"}, sources(read(t, s, ok.Value)))

	pgtest.Exec(t, dsn, `ALTER TABLE cte_entries ADD CONSTRAINT no_boom CHECK (comments <> 'boom')`)
	boom := ioc.Indicator{Type: ioc.TypeDomain, Value: "boom.example", Comments: "boom"}
	err := s.Update(t.Context(), func(tx sharing.Tx) error {
		_, err := tx.Merge("feed", []ioc.Indicator{boom}, now)
		return err
	})
	require.ErrorContains(t, err, `pgstore: merge from "feed": copy 1 new entries:`)
	require.ErrorContains(t, err, "no_boom")
	okBoom := ok
	okBoom.Comments = "boom"
	err = s.Update(t.Context(), func(tx sharing.Tx) error {
		_, err := tx.Merge("feed", []ioc.Indicator{okBoom}, now)
		return err
	})
	require.ErrorContains(t, err, `pgstore: merge from "feed": update 1 entries:`)
	require.ErrorContains(t, err, "no_boom")
	err = s.Update(t.Context(), func(tx sharing.Tx) error {
		boom.Source = "feed"
		return tx.PutRecord(sharing.Record{Type: boom.Type, Value: boom.Value, Entries: []sharing.Entry{{Indicator: boom}}})
	})
	require.ErrorContains(t, err, `pgstore: put record "boom.example":`)
	require.ErrorContains(t, err, "no_boom")
}

func sources(r sharing.Record) []string {
	var out []string
	for _, e := range r.Entries {
		out = append(out, e.Source)
	}
	return out
}

// Consecutive merges of pages of different sizes (the store keeps a merge's
// working memory for the next) see nothing of the pages before.
func TestMergesKeepNothingOfThePageBefore(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.DSN(t))
	h := func(i int) ioc.Indicator { return ioc.Indicator{Type: ioc.TypeSHA256, Value: storetest.Hash(i)} }
	now := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	merge := func(in ...ioc.Indicator) sharing.MergeStats {
		var st sharing.MergeStats
		require.NoError(t, s.Update(t.Context(), func(tx sharing.Tx) error {
			var err error
			st, err = tx.Merge("feed", in, now)
			return err
		}))
		return st
	}
	assert.Equal(t, sharing.MergeStats{New: 2, Updated: 1}, merge(h(1), h(2), h(1)))
	assert.Equal(t, sharing.MergeStats{New: 1}, merge(h(3)))
	assert.Equal(t, sharing.MergeStats{New: 1, Updated: 2}, merge(h(2), h(4), h(4)))
	big := storetest.Page(1, 20000) // more values than the store keeps memory for
	assert.Equal(t, sharing.MergeStats{New: 20000}, merge(big...))
	assert.Equal(t, sharing.MergeStats{New: 1, Updated: 1}, merge(h(5), h(3)))
	var n int
	require.NoError(t, s.View(t.Context(), func(tx sharing.Tx) error {
		return tx.Records(func(r *sharing.Record) error {
			n++
			return nil
		})
	}))
	assert.Equal(t, 5+20000, n)
}

// A writer that cannot take the write lock (here: its lock_timeout passes
// while another holds it) fails with the reason, and its store works on.
func TestUpdateWithoutTheWriteLock(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	holder := open(t, dsn)
	waiter := open(t, dsn+"&lock_timeout=100")
	held, release, done := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		done <- holder.Update(t.Context(), func(sharing.Tx) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	err := waiter.Update(t.Context(), func(sharing.Tx) error {
		t.Error("ran without the write lock")
		return nil
	})
	require.ErrorContains(t, err, "pgstore: update: begin and take the write lock:")
	require.ErrorContains(t, err, "lock timeout")
	close(release)
	require.NoError(t, <-done)
	require.NoError(t, waiter.Update(t.Context(), func(tx sharing.Tx) error {
		_, err := tx.Merge("feed", storetest.Page(0, 3), time.Now())
		return err
	}), "the store works on")
}
