package mimecast

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/internal/httpx"
	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/mimecast/mimecasttest"
)

func TestCheckpointResumeWithOverlap(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s := mimecasttest.NewServer(t, mimecasttest.WithClock(clock.Now), mimecasttest.WithFeed(FeedMalwareGrid, 0))
	cfg := hmacConfig(s)
	cfg.FeedTypes = []string{FeedMalwareCustomer}
	p := newTestPlugin(t, s, cfg, clock.Now)
	pages, err := pullAll(t, p, nil)
	require.NoError(t, err)
	cp := pages[len(pages)-1].Next
	rows := s.Feed(FeedMalwareCustomer)
	newest := rows[len(rows)-1].Timestamp

	// An event that arrives late: stamped 30 minutes before the newest row seen.
	clock.Add(2 * time.Hour)
	late := mimecasttest.FeedRow{Timestamp: newest.Add(-30 * time.Minute), SenderAddress: "late@evil.example", MD5: md5A, SHA256: sha256A}
	// And one far older than the overlap, which a resume rightly does not ask for.
	old := mimecasttest.FeedRow{Timestamp: newest.Add(-3 * time.Hour), MD5: strings.Repeat("1", 32), SHA256: strings.Repeat("1", 64)}
	s.AddFeedRows(FeedMalwareCustomer, late, old)
	s.ClearRequests()

	more, err := pullAll(t, p, cp)
	require.NoError(t, err)
	got := values(more)
	require.Contains(t, got, "sha256:"+sha256A, "the late event is inside the overlap")
	assert.Equal(t, "Sent from late@evil.example", got["sha256:"+sha256A].Comments)
	assert.NotContains(t, got, "sha256:"+strings.Repeat("1", 64))
	body := requestBodies(t, s, mimecasttest.PathGetFeed)[0]
	assert.Equal(t, newest.Add(-time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339), body["start"])
	assert.Equal(t, clock.Now().Format(time.RFC3339), body["end"])

	// A configured overlap is used instead.
	cfg.Overlap = 10 * time.Minute
	p2 := newTestPlugin(t, s, cfg, clock.Now)
	s.ClearRequests()
	more, err = pullAll(t, p2, cp)
	require.NoError(t, err)
	assert.NotContains(t, values(more), "sha256:"+sha256A)
}

func TestPullFirstRunRange(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s := mimecasttest.NewServer(t, mimecasttest.WithClock(clock.Now))
	cfg := hmacConfig(s)
	cfg.FeedTypes = []string{FeedMalwareGrid}
	cfg.InitialRangeDays = 2
	_, err := pullAll(t, newTestPlugin(t, s, cfg, clock.Now), nil)
	require.NoError(t, err)
	assert.Equal(t, "2026-04-29T12:00:00Z", requestBodies(t, s, mimecasttest.PathGetFeed)[0]["start"])

	s.ClearRequests()
	cfg.InitialRangeDays = NoHistory
	_, err = pullAll(t, newTestPlugin(t, s, cfg, clock.Now), nil)
	require.NoError(t, err)
	assert.Equal(t, "2026-05-01T12:00:00Z", requestBodies(t, s, mimecasttest.PathGetFeed)[0]["start"])
}

func TestPullMalsite(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s := mimecasttest.NewServer(t, mimecasttest.WithClock(clock.Now), mimecasttest.WithClickLogs(0))
	cfg := hmacConfig(s)
	cfg.FeedTypes = []string{FeedMalsite}
	base := clock.Now().Add(-time.Hour)
	s.AddClickLogs(
		mimecasttest.ClickLog{URL: s.RewriteURL("https://evil.example/a"), ScanResult: "malicious", Date: base},
		mimecasttest.ClickLog{URL: s.RewriteURL("https://evil.example/a"), ScanResult: "malicious", Date: base.Add(time.Minute)},
		mimecasttest.ClickLog{URL: "https://plain.example/b", ScanResult: "malicious", Date: base.Add(2 * time.Minute)},
		mimecasttest.ClickLog{URL: "https://protect-us.mimecast.com/s/unknown?domain=x", ScanResult: "malicious", Date: base.Add(3 * time.Minute)},
		mimecasttest.ClickLog{URL: "", ScanResult: "malicious", Date: base.Add(4 * time.Minute)},
		mimecasttest.ClickLog{URL: s.RewriteURL("https://clean.example/"), ScanResult: "clean", Date: base.Add(5 * time.Minute)},
	)
	for i := range 40 {
		s.AddClickLogs(mimecasttest.ClickLog{URL: s.RewriteURL("https://bulk.example/" + strings.Repeat("x", i+1)), ScanResult: "malicious", Date: base.Add(-time.Duration(i+1) * time.Minute)})
	}
	p := newTestPlugin(t, s, cfg, clock.Now)
	pages, err := pullAll(t, p, nil)
	require.NoError(t, err)
	got := values(pages)
	assert.Contains(t, got, "url:https://evil.example/a")
	assert.Contains(t, got, "url:https://plain.example/b", "a link that is not rewritten is used as it is")
	assert.NotContains(t, got, "url:https://clean.example/")
	assert.Len(t, got, 42)
	a := got["url:https://evil.example/a"]
	assert.Equal(t, []string{FeedMalsite}, a.Tags)
	assert.True(t, a.LastSeen.Equal(base.Add(time.Minute)), "the latest click of a duplicate")
	reasons := map[string]int{}
	for _, pg := range pages {
		for _, x := range pg.Invalid {
			reasons[x.Reason] += x.Count
		}
	}
	assert.Equal(t, map[string]int{"url: empty": 1, "url: Token is invalid": 1}, reasons)
	for _, b := range requestBodies(t, s, mimecasttest.PathGetLogs) {
		assert.Equal(t, "malicious", b["scanResult"])
		assert.Equal(t, true, b["oldestFirst"])
	}
	for _, r := range s.Requests() {
		if r.Path == mimecasttest.PathDecodeURL {
			assert.LessOrEqual(t, strings.Count(string(r.Body), `"url"`), MaxDecode)
		}
	}
	assert.GreaterOrEqual(t, s.Count(mimecasttest.PathDecodeURL), 2, "decoded in batches of at most 25")
	cp, err := decodeCheckpoint(pages[len(pages)-1].Next)
	require.NoError(t, err)
	assert.True(t, cp.Feeds[FeedMalsite].Equal(base.Add(4*time.Minute)), "newest click date: %s", cp.Feeds[FeedMalsite])
	for _, in := range got {
		_, err := ioc.Parse(in.Type, in.Value)
		assert.NoError(t, err)
	}
}

func TestPullDecodeFailureIsAnError(t *testing.T) {
	t.Parallel()
	s := mimecasttest.NewServer(t, mimecasttest.WithClickLogs(20))
	cfg := hmacConfig(s)
	cfg.FeedTypes = []string{FeedMalsite}
	s.FailEnvelope(mimecasttest.PathDecodeURL, 1, "err_decode", "Decoder down")
	_, err := pullAll(t, newTestPlugin(t, s, cfg, time.Now), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Decoder down")
}

func TestPullCancelled(t *testing.T) {
	t.Parallel()
	s := mimecasttest.NewServer(t)
	p := newTestPlugin(t, s, hmacConfig(s), time.Now)
	gate := s.Stall(mimecasttest.PathGetFeed, 1)
	defer gate.Release()
	done := make(chan error, 1)
	cctx, ccancel := context.WithCancel(t.Context())
	go func() {
		for _, err := range p.Pull(cctx, nil) {
			if err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	<-gate.Arrived()
	ccancel()
	err := <-done
	require.ErrorIs(t, err, context.Canceled)
}

// rowSource is an endless get-feed CSV body: a header, then valid rows.
type rowSource struct {
	buf []byte
	n   int
}

func (r *rowSource) Read(p []byte) (int, error) {
	if len(r.buf) == 0 {
		if r.n == 0 {
			r.buf = []byte("Timestamp|SenderAddress|MD5|SHA256\n")
		} else {
			r.buf = fmt.Appendf(nil, "2024-05-01T10:00:00Z|s@evil.example|%032x|%064x\n", r.n, r.n)
		}
		r.n++
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// Issue 12 item 8: a feed page is parsed as it streams in, handed on in chunks,
// and a page past the body limit fails with an error naming the limit; memory
// stays bounded by a chunk whatever the product sends.
func TestPullStreamsFeedPageInChunks(t *testing.T) {
	t.Parallel()
	c, mt := mockClient(t, mockHMAC())
	c.feedLimit = 1 << 20
	mt.RegisterResponder("POST", "https://mock.test"+pathGetFeed, func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(&rowSource{}), Request: r}, nil
	})
	cfg := c.cfg
	cfg.FeedTypes = []string{FeedMalwareGrid}
	p := &Plugin{c: c, cfg: cfg, log: c.log, now: time.Now, feedChunk: 1000}
	var pages []cte.Page
	var err error
	for pg, e := range p.Pull(t.Context(), nil) {
		if e != nil {
			err = e
			break
		}
		require.LessOrEqual(t, len(pg.Indicators), 1000, "a page holds at most a chunk")
		pages = append(pages, pg)
	}
	require.ErrorIs(t, err, httpx.ErrBodyTooLarge)
	assert.ErrorContains(t, err, "more than 1048576 bytes")
	require.Greater(t, len(pages), 5, "chunks were handed on before the limit")
	first := decodeCP(t, pages[0].Next)
	assert.Empty(t, first.Feeds, "a chunk before the end of the file keeps the checkpoint from before it")
}

// The last chunk of a feed file carries the checkpoint after it.
func TestPullChunksLastCarriesCheckpoint(t *testing.T) {
	t.Parallel()
	s := mimecasttest.NewServer(t, mimecasttest.WithFeed(FeedMalwareCustomer, 250), mimecasttest.WithFeedPageSize(1000))
	cfg := hmacConfig(s)
	cfg.FeedTypes = []string{FeedMalwareCustomer}
	p := newTestPlugin(t, s, cfg, time.Now)
	p.feedChunk = 100
	pages, err := pullAll(t, p, nil)
	require.NoError(t, err)
	require.Greater(t, len(pages), 3, "about 500 indicators in chunks of 100")
	last := len(pages) - 1
	for _, pg := range pages[:last] {
		assert.InDelta(t, 100, len(pg.Indicators), 1, "a row gives at most 2 indicators")
		assert.Empty(t, decodeCP(t, pg.Next).Feeds)
	}
	assert.LessOrEqual(t, len(pages[last].Indicators), 100)
	rows := s.Feed(FeedMalwareCustomer)
	assert.Equal(t, rows[len(rows)-1].Timestamp.UTC(), decodeCP(t, pages[last].Next).Feeds[FeedMalwareCustomer])
}

func decodeCP(t *testing.T, b cte.Checkpoint) checkpoint {
	t.Helper()
	cp, err := decodeCheckpoint(b)
	require.NoError(t, err)
	return cp
}

// Mimecast keeps no read position for a feed (time range and page token), so
// the engine may fetch its next page while it stores one.
func TestPluginReadsPagesAhead(t *testing.T) {
	t.Parallel()
	var p cte.Plugin = &Plugin{}
	r, ok := p.(cte.PageAheadReader)
	require.True(t, ok)
	assert.True(t, r.ReadsPagesAhead())
}

// TestPageCapInsideTheOverlapProgresses: a feed with more pages within the
// one-hour overlap than MaxPages is read on by the next pulls: after a pull
// the page cap stopped, the next resumes where it stopped, not an overlap
// before. Each pull read the same first pages again, for good (ten pulls
// got 10 of 30 rows).
func TestPageCapInsideTheOverlapProgresses(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s := mimecasttest.NewServer(t, mimecasttest.WithClock(clock.Now), mimecasttest.WithFeed(FeedMalwareGrid, 0),
		mimecasttest.WithFeed(FeedMalwareCustomer, 0), mimecasttest.WithFeedPageSize(5))
	base := clock.Now().Add(-30 * time.Minute)
	var rows []mimecasttest.FeedRow
	for i := range 30 { // 30 rows (6 pages) within 30 minutes
		rows = append(rows, mimecasttest.FeedRow{Timestamp: base.Add(time.Duration(i) * time.Minute),
			MD5: fmt.Sprintf("%032x", i+1), SHA256: fmt.Sprintf("%064x", i+1)})
	}
	s.AddFeedRows(FeedMalwareCustomer, rows...)
	cfg := hmacConfig(s)
	cfg.FeedTypes = []string{FeedMalwareCustomer}
	cfg.MaxPages = 2
	p := newTestPlugin(t, s, cfg, clock.Now)
	got := map[string]bool{}
	var cp cte.Checkpoint
	for pull := 0; pull < 10; pull++ { // ten syncs, five minutes apart
		pages, err := pullAll(t, p, cp)
		require.NoError(t, err)
		for k := range values(pages) {
			got[k] = true
		}
		cp = pages[len(pages)-1].Next
		clock.Add(5 * time.Minute)
	}
	n := 0
	for k := range got {
		if strings.HasPrefix(k, "sha256:") {
			n++
		}
	}
	assert.Equal(t, 30, n, "sha256 values pulled after ten pulls")
}
