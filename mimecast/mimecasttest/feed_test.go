package mimecasttest_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/mimecast/mimecasttest"
)

// csvRows splits a CSV page into its header and data lines, checking the
// line endings.
func csvRows(t *testing.T, body []byte) (header string, rows []string) {
	t.Helper()
	text := string(body)
	require.True(t, strings.HasSuffix(text, "\n"), "every line ends in \\n: %q", text)
	require.NotContains(t, text, "\r")
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	return lines[0], lines[1:]
}

// rowLine renders a FeedRow as the fake should.
func rowLine(r mimecasttest.FeedRow) string {
	return strings.Join([]string{r.Timestamp.UTC().Format(mimecasttest.FeedTimeLayout), r.SenderAddress, r.RecipientAddress, r.FileName, r.FileType, r.MD5, r.SHA256}, "|")
}

// pullAll follows the next-page tokens, at most limit pages.
func pullAll(t *testing.T, s *mimecasttest.Server, tok string, item map[string]any, limit int) (pages []reply) {
	t.Helper()
	for range limit {
		r := bearerPost(t, s, tok, mimecasttest.PathGetFeed, feedBody(item))
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		pages = append(pages, r)
		next := r.header.Get(mimecasttest.NextTokenHeader)
		if next == "" {
			return pages
		}
		item["token"] = next
	}
	return pages
}

func TestFeedPaging(t *testing.T) {
	t.Parallel()
	s, _ := fake(t, mimecasttest.WithFeed(mimecasttest.FeedMalwareCustomer, 1234))
	tok := token(t, s)
	want := s.Feed(mimecasttest.FeedMalwareCustomer)
	require.Len(t, want, 1234)

	pages := pullAll(t, s, tok, map[string]any{"feedType": "malware_customer", "fileType": "csv", "start": t0.Add(-7 * 24 * time.Hour).Format("2006-01-02T15:04:05+00:00")}, 10)
	require.Len(t, pages, 3, "1234 rows at 500 a page")
	var got []string
	for i, p := range pages {
		h, rows := csvRows(t, p.body)
		assert.Equal(t, mimecasttest.FeedHeader, h)
		assert.Equal(t, "application/octet-stream", p.header.Get("Content-Type"))
		assert.Contains(t, p.header.Get("Content-Disposition"), `filename="malware_customer_csv_20260501120000000.csv"`)
		if i < 2 {
			assert.Len(t, rows, 500)
			assert.NotEmpty(t, p.header.Get(mimecasttest.NextTokenHeader))
		} else {
			assert.Len(t, rows, 234)
			_, present := p.header[http.CanonicalHeaderKey(mimecasttest.NextTokenHeader)]
			assert.False(t, present, "the last page omits the token header")
		}
		got = append(got, rows...)
	}
	require.Len(t, got, len(want))
	for i := range want {
		assert.Equal(t, rowLine(want[i]), got[i])
	}
	assert.NotEqual(t, pages[0].header.Get(mimecasttest.NextTokenHeader), pages[1].header.Get(mimecasttest.NextTokenHeader))

	// A token can be replayed (a retried page gives the same rows).
	item := feedBody(map[string]any{"token": pages[0].header.Get(mimecasttest.NextTokenHeader)})
	again := bearerPost(t, s, tok, mimecasttest.PathGetFeed, item)
	assert.Equal(t, pages[1].body, again.body)
}

func TestFeedStartFormats(t *testing.T) {
	t.Parallel()
	s, _ := fake(t, mimecasttest.WithFeedPageSize(5000))
	tok := token(t, s)
	rows := s.Feed(mimecasttest.FeedMalwareGrid)
	from := rows[100].Timestamp.Truncate(time.Second).Add(time.Second) // strictly after row 100
	first := 101
	for rows[first].Timestamp.Before(from) {
		first++
	}
	var bodies []string
	for _, start := range []string{
		from.Format("2006-01-02T15:04:05Z"),
		from.Format("2006-01-02T15:04:05+00:00"),
		from.Format("2006-01-02T15:04:05+0000"),
		from.Format("2006-01-02T15:04:05.000Z"),
		from.In(time.FixedZone("", 2*3600)).Format("2006-01-02T15:04:05-0700"),
	} {
		r := bearerPost(t, s, tok, mimecasttest.PathGetFeed, feedBody(map[string]any{"feedType": "malware_grid", "start": start}))
		require.Equal(t, http.StatusOK, r.status, "%s: %s", start, r.body)
		_, got := csvRows(t, r.body)
		require.Len(t, got, len(rows)-first, start)
		assert.Equal(t, rowLine(rows[first]), got[0], start)
		bodies = append(bodies, string(r.body))
	}
	for _, b := range bodies[1:] {
		assert.Equal(t, bodies[0], b, "every offset spelling selects the same rows")
	}

	// end bounds the window; default feed type is malware_customer.
	end := s.Feed(mimecasttest.FeedMalwareCustomer)[10].Timestamp
	r := bearerPost(t, s, tok, mimecasttest.PathGetFeed, feedBody(map[string]any{"end": end.Format(time.RFC3339Nano)}))
	_, got := csvRows(t, r.body)
	assert.Len(t, got, 10)
	assert.Contains(t, r.header.Get("Content-Disposition"), "malware_customer")
}

func TestFeedTokenIgnoresStart(t *testing.T) {
	t.Parallel()
	s, _ := fake(t, mimecasttest.WithFeedPageSize(100))
	tok := token(t, s)
	r := bearerPost(t, s, tok, mimecasttest.PathGetFeed, feedBody(map[string]any{"feedType": "malware_grid"}))
	next := r.header.Get(mimecasttest.NextTokenHeader)
	require.NotEmpty(t, next)
	want := bearerPost(t, s, tok, mimecasttest.PathGetFeed, feedBody(map[string]any{"token": next}))
	got := bearerPost(t, s, tok, mimecasttest.PathGetFeed, feedBody(map[string]any{"token": next, "feedType": "malware_customer", "start": "not a date", "end": "2000-01-01T00:00:00Z"}))
	assert.Equal(t, http.StatusOK, got.status)
	assert.Equal(t, want.body, got.body, "with a token, start, end and feedType are ignored")
	_, rows := csvRows(t, got.body)
	assert.Equal(t, rowLine(s.Feed(mimecasttest.FeedMalwareGrid)[100]), rows[0])
}

func TestFeedValidation(t *testing.T) {
	t.Parallel()
	s, _ := fake(t)
	tok := token(t, s)
	cases := []struct {
		name string
		item map[string]any
		code string
		text string
	}{
		{"unknown token", map[string]any{"token": "eNoForged"}, "err_threat_feed_invalid_token", "eNoForged"},
		{"bad start", map[string]any{"start": "yesterday"}, "err_validation_invalid_date", "yesterday"},
		{"bad end", map[string]any{"end": "2026-13-01T00:00:00Z"}, "err_validation_invalid_date", "2026-13-01"},
		{"end before start", map[string]any{"start": "2026-04-02T00:00:00Z", "end": "2026-04-01T00:00:00Z"}, "err_validation_invalid_date", "before"},
		{"unknown feed type", map[string]any{"feedType": "malsite"}, "err_threat_feed_invalid_feed_type", "malsite"},
		{"unknown file type", map[string]any{"fileType": "xml"}, "err_threat_feed_invalid_file_type", "xml"},
		{"compressed", map[string]any{"compress": true}, "err_threat_feed_compress_unsupported", "compress"},
	}
	for _, tc := range cases {
		r := bearerPost(t, s, tok, mimecasttest.PathGetFeed, feedBody(tc.item))
		assert.Equal(t, http.StatusOK, r.status, "%s: business errors come as HTTP 200", tc.name)
		assert.Equal(t, "application/json", r.header.Get("Content-Type"), tc.name)
		assert.Equal(t, []string{tc.code}, r.env(t).codes(), tc.name)
		assert.Contains(t, string(r.body), tc.text, tc.name)
	}
	r := bearerPost(t, s, tok, mimecasttest.PathGetFeed, `{"data":[{"start":5}]}`)
	assert.Equal(t, http.StatusBadRequest, r.status, "a start of the wrong type is malformed")
	assert.Equal(t, []string{"err_request_invalid"}, r.env(t).codes())
}

func TestFeedDataDeterministic(t *testing.T) {
	t.Parallel()
	a, _ := fake(t, mimecasttest.WithSeed(7))
	b, _ := fake(t, mimecasttest.WithSeed(7))
	c, _ := fake(t, mimecasttest.WithSeed(8))
	assert.Equal(t, a.Feed(mimecasttest.FeedMalwareGrid), b.Feed(mimecasttest.FeedMalwareGrid))
	assert.Equal(t, a.ClickLogs(), b.ClickLogs())
	assert.NotEqual(t, a.Feed(mimecasttest.FeedMalwareGrid)[0].SHA256, c.Feed(mimecasttest.FeedMalwareGrid)[0].SHA256)
	assert.NotEqual(t, a.Feed(mimecasttest.FeedMalwareGrid)[0].SHA256, a.Feed(mimecasttest.FeedMalwareCustomer)[0].SHA256)
	assert.Len(t, a.Feed(mimecasttest.FeedMalwareCustomer), mimecasttest.DefaultCustomerRows)
	assert.Len(t, a.Feed(mimecasttest.FeedMalwareGrid), mimecasttest.DefaultGridRows)
}

func TestFeedOddities(t *testing.T) {
	t.Parallel()
	s, _ := fake(t, mimecasttest.WithFeed(mimecasttest.FeedMalwareGrid, 100))
	rows := s.Feed(mimecasttest.FeedMalwareGrid)
	isHex := func(v string, n int) bool {
		if len(v) != n {
			return false
		}
		for _, c := range v {
			if !strings.ContainsRune("0123456789abcdef", c) {
				return false
			}
		}
		return true
	}
	var nullMD5, emptySHA, badMD5, badSHA, emptyFile, noSender, upper, dup int
	for i, r := range rows {
		switch {
		case r.MD5 == "null":
			nullMD5++
		case r.MD5 == mimecasttest.EmptyMD5:
			emptyFile++
		case r.MD5 != "" && r.MD5 == strings.ToUpper(r.MD5):
			upper++
		case r.MD5 != "" && !isHex(r.MD5, 32):
			badMD5++
		}
		if r.SHA256 == "" {
			emptySHA++
		} else if r.SHA256 != "null" && !isHex(r.SHA256, 64) {
			badSHA++
		}
		if r.SenderAddress == "" {
			noSender++
		}
		if i > 0 && r.SHA256 == rows[i-1].SHA256 {
			dup++
		}
		if i > 0 {
			assert.False(t, r.Timestamp.Before(rows[i-1].Timestamp), "rows are oldest first")
		}
		assert.True(t, r.Timestamp.Before(t0) && r.Timestamp.After(t0.Add(-mimecasttest.DefaultDataWindow)), "row %d in the data window", i)
	}
	assert.Equal(t, 2, nullMD5)
	assert.Equal(t, 2, emptySHA)
	assert.Equal(t, 2, badMD5)
	assert.Equal(t, 2, badSHA)
	assert.Equal(t, 2, emptyFile)
	assert.Equal(t, 2, noSender)
	assert.Equal(t, 2, upper)
	assert.Equal(t, 2, dup)
}

func TestAddFeedRows(t *testing.T) {
	t.Parallel()
	s, _ := fake(t, mimecasttest.WithFeed("custom", 0))
	tok := token(t, s)
	r := bearerPost(t, s, tok, mimecasttest.PathGetFeed, feedBody(map[string]any{"feedType": "custom"}))
	h, rows := csvRows(t, r.body)
	assert.Equal(t, mimecasttest.FeedHeader, h)
	assert.Empty(t, rows, "an empty window is the header line only")

	late := mimecasttest.FeedRow{Timestamp: t0.Add(-time.Hour), SenderAddress: "b@x.example", MD5: "null", SHA256: mimecasttest.EmptySHA256}
	early := mimecasttest.FeedRow{Timestamp: t0.Add(-2 * time.Hour), MD5: mimecasttest.EmptyMD5}
	s.AddFeedRows("custom", late, early)
	r = bearerPost(t, s, tok, mimecasttest.PathGetFeed, feedBody(map[string]any{"feedType": "custom"}))
	_, rows = csvRows(t, r.body)
	assert.Equal(t, []string{rowLine(early), rowLine(late)}, rows)
}

func TestFeedModes(t *testing.T) {
	t.Parallel()
	s, _ := fake(t, mimecasttest.WithFeedPageSize(100))
	tok := token(t, s)
	get := func(item map[string]any) reply {
		return bearerPost(t, s, tok, mimecasttest.PathGetFeed, feedBody(item))
	}

	s.SetFeedMode("", mimecasttest.FeedEmptyBody)
	r := get(map[string]any{"feedType": "malware_grid"})
	assert.Equal(t, http.StatusOK, r.status)
	assert.Empty(t, r.body)
	assert.Empty(t, r.header.Get(mimecasttest.NextTokenHeader))

	s.SetFeedMode("", mimecasttest.FeedHeaderOnly)
	r = get(map[string]any{"feedType": "malware_grid"})
	assert.Equal(t, mimecasttest.FeedHeader+"\n", string(r.body))
	assert.Empty(t, r.header.Get(mimecasttest.NextTokenHeader))

	s.SetFeedMode("", mimecasttest.FeedJSONFail)
	r = get(map[string]any{"feedType": "malware_grid"})
	assert.Equal(t, http.StatusOK, r.status)
	assert.True(t, strings.HasPrefix(string(r.body), "{"))
	assert.Equal(t, []string{"err_threat_feed_unavailable"}, r.env(t).codes())

	// A mode for one feed type wins over the "" default.
	s.SetFeedMode(mimecasttest.FeedMalwareCustomer, mimecasttest.FeedNormal)
	_, rows := csvRows(t, get(map[string]any{"feedType": "malware_customer"}).body)
	assert.Len(t, rows, 100)

	// Endless: header-only pages, each with a fresh token.
	s.SetFeedMode("", mimecasttest.FeedEndless)
	pages := pullAll(t, s, tok, map[string]any{"feedType": "malware_grid"}, 50)
	assert.Len(t, pages, 50, "the fake never stops sending tokens")
	seen := map[string]bool{}
	for _, p := range pages {
		assert.Equal(t, mimecasttest.FeedHeader+"\n", string(p.body))
		next := p.header.Get(mimecasttest.NextTokenHeader)
		assert.False(t, seen[next], "tokens are fresh")
		seen[next] = true
	}

	// Repeat: the second page answers the token it was asked with.
	s.SetFeedMode("", mimecasttest.FeedRepeatToken)
	first := get(map[string]any{"feedType": "malware_grid"})
	t1 := first.header.Get(mimecasttest.NextTokenHeader)
	require.NotEmpty(t, t1)
	second := get(map[string]any{"token": t1})
	assert.Equal(t, t1, second.header.Get(mimecasttest.NextTokenHeader))
	third := get(map[string]any{"token": t1})
	assert.Equal(t, t1, third.header.Get(mimecasttest.NextTokenHeader))
	assert.Equal(t, second.body, third.body)

	// ... even past the last page.
	s.SetFeedPageSize(1000)
	first = get(map[string]any{"feedType": "malware_grid"})
	t1 = first.header.Get(mimecasttest.NextTokenHeader)
	require.NotEmpty(t, t1)
	last := get(map[string]any{"token": t1})
	_, rows = csvRows(t, last.body)
	assert.Len(t, rows, 200)
	assert.Equal(t, t1, last.header.Get(mimecasttest.NextTokenHeader))
	s.SetFeedPageSize(100)

	s.SetFeedMode("", mimecasttest.FeedNormal)
	pages = pullAll(t, s, tok, map[string]any{"feedType": "malware_grid"}, 50)
	assert.Len(t, pages, 12, "1200 rows at 100 a page, back to normal")
}

func TestFeedSTIX(t *testing.T) {
	t.Parallel()
	s, _ := fake(t, mimecasttest.WithFeed(mimecasttest.FeedMalwareCustomer, 20))
	r := bearerPost(t, s, token(t, s), mimecasttest.PathGetFeed, feedBody(map[string]any{"fileType": "stix"}))
	require.Equal(t, http.StatusOK, r.status)
	assert.Contains(t, r.header.Get("Content-Disposition"), ".stix")
	var bundle struct {
		Type        string `json:"type"`
		SpecVersion string `json:"spec_version"`
		Objects     []struct {
			Type      string `json:"type"`
			ID        string `json:"id"`
			Pattern   string `json:"pattern"`
			SourceRef string `json:"source_ref"`
		} `json:"objects"`
	}
	require.NoError(t, json.Unmarshal(r.body, &bundle))
	assert.Equal(t, "bundle", bundle.Type)
	assert.Equal(t, "2.0", bundle.SpecVersion)
	rows := s.Feed(mimecasttest.FeedMalwareCustomer)
	var patterns []string
	ids := map[string]bool{}
	for _, o := range bundle.Objects {
		assert.False(t, ids[o.ID], "ids are unique")
		ids[o.ID] = true
		if o.Type == "indicator" {
			patterns = append(patterns, o.Pattern)
		}
	}
	assert.Contains(t, patterns, "[file:hashes.'SHA-256' = '"+rows[0].SHA256+"']")
	assert.Contains(t, patterns, "[file:hashes.MD5 = '"+rows[0].MD5+"']")
	assert.NotContains(t, patterns, "[file:hashes.MD5 = 'null']", "null values are not indicators")
	assert.Len(t, patterns, 20*2-4, "row 7 has no MD5, row 13 no SHA256, row 19 neither")
}

func TestGrowFeed(t *testing.T) {
	t.Parallel()
	s, clk := fake(t, mimecasttest.WithFeed(mimecasttest.FeedMalwareCustomer, 50))
	old := s.Feed(mimecasttest.FeedMalwareCustomer)
	newest := old[len(old)-1].Timestamp
	clk.Add(time.Hour)
	s.GrowFeed(mimecasttest.FeedMalwareCustomer, 10)
	rows := s.Feed(mimecasttest.FeedMalwareCustomer)
	require.Len(t, rows, 60)
	assert.Equal(t, old, rows[:50], "old rows stay")
	for _, r := range rows[50:] {
		assert.True(t, r.Timestamp.After(newest) && !r.Timestamp.After(clk.Now()), "new rows arrive after the newest and by now: %v", r.Timestamp)
	}
	assert.Equal(t, "null", rows[57].MD5, "the oddities continue by row number")

	r := bearerPost(t, s, token(t, s), mimecasttest.PathGetFeed, feedBody(map[string]any{"start": newest.Add(time.Millisecond).Format(time.RFC3339Nano)}))
	_, got := csvRows(t, r.body)
	require.Len(t, got, 10)
	assert.Equal(t, rowLine(rows[50]), got[0])

	s.GrowFeed("fresh", 3)
	assert.Len(t, s.Feed("fresh"), 3)
}
