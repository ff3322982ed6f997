package mimecasttest

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Hashes of the empty file, which the generated feeds contain now and then.
const (
	EmptyMD5    = "d41d8cd98f00b204e9800998ecf8427e"
	EmptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// FeedRow is one row of a get-feed CSV page. MD5 and SHA256 are sent verbatim:
// they may be "null", empty or malformed.
type FeedRow struct {
	Timestamp        time.Time
	SenderAddress    string
	RecipientAddress string
	FileName         string
	FileType         string
	MD5              string
	SHA256           string
}

// appendCSV appends the row as one pipe-delimited line, with its newline.
func (r *FeedRow) appendCSV(b []byte) []byte {
	b = r.Timestamp.UTC().AppendFormat(b, FeedTimeLayout)
	for _, v := range [...]string{r.SenderAddress, r.RecipientAddress, r.FileName, r.FileType, r.MD5, r.SHA256} {
		b = append(b, '|')
		b = append(b, v...)
	}
	return append(b, '\n')
}

// FeedMode changes how get-feed answers, to provoke client weaknesses.
type FeedMode int

// Feed modes.
const (
	// FeedNormal serves the rows page by page, with the next-page token header
	// on every page but the last.
	FeedNormal FeedMode = iota
	// FeedEmptyBody answers an empty body and no token.
	FeedEmptyBody
	// FeedHeaderOnly answers the header line (with its newline) and no token.
	FeedHeaderOnly
	// FeedJSONFail answers HTTP 200 with a JSON fail envelope instead of CSV.
	FeedJSONFail
	// FeedEndless answers header-only pages that always carry a fresh token, so
	// a client that follows tokens without a page cap never stops.
	FeedEndless
	// FeedRepeatToken serves rows normally but, once the client sends a token,
	// answers with that same token again, forever (even past the last page).
	FeedRepeatToken
)

// feedRow is one row of a feed as the fake keeps it: a generated row is kept
// as its number and time and rendered when a page is served, so a feed of
// millions of rows costs a few bytes a row; a row added with AddFeedRows (or a
// generated row that copies another's hashes) is kept whole.
type feedRow struct {
	ts  int64    // Timestamp, Unix nanoseconds
	gen int64    // the generated row's number; -1 when x holds the row
	x   *FeedRow // the whole row, or nil for a generated one
}

// row returns the row whole.
func (r *feedRow) row(seed int64, feedType string) FeedRow {
	if r.x != nil {
		return *r.x
	}
	return genRow(seed, feedType, int(r.gen), time.Unix(0, r.ts).UTC())
}

// feedExts are the file extensions of generated rows.
var feedExts = [...]string{"docm", "zip", "exe", "js", "xlsm", "pdf", "iso", "lnk"}

// genSum returns the SHA-256 a generated row number i is built from.
func genSum(seed int64, feedType string, i int) [32]byte {
	var buf [96]byte
	b := strconv.AppendInt(buf[:0], seed, 10)
	b = append(append(append(b, '|'), feedType...), '|')
	b = strconv.AppendInt(b, int64(i), 10)
	return sha256.Sum256(b)
}

// genRow builds generated row number i (all but the copied hashes of row
// numbers i%50 == 43, which generateFeed keeps whole).
func genRow(seed int64, feedType string, i int, ts time.Time) FeedRow {
	sum := genSum(seed, feedType, i)
	m := md5.Sum(sum[:])
	ext := feedExts[int(sum[0])%len(feedExts)]
	num := func(b []byte, v, width int) []byte {
		s := strconv.Itoa(v)
		for range width - len(s) {
			b = append(b, '0')
		}
		return append(b, s...)
	}
	var sb []byte
	sb = num(append(sb, "sender"...), int(sum[2]), 3)
	sb = num(append(sb, "@evil"...), int(sum[3])%20, 2)
	sb = append(sb, ".example"...)
	rb := num([]byte("user"), int(sum[4]), 3)
	rb = append(rb, "@acme.example"...)
	fb := append([]byte("file-"), feedType...)
	fb = strconv.AppendInt(append(fb, '-'), int64(i), 10)
	fb = append(append(fb, '.'), ext...)
	row := FeedRow{
		Timestamp:        ts,
		SenderAddress:    string(sb),
		RecipientAddress: string(rb),
		FileName:         string(fb),
		FileType:         ext,
		MD5:              hex.EncodeToString(m[:]),
		SHA256:           hex.EncodeToString(sum[:]),
	}
	switch i % 50 {
	case 7:
		row.MD5 = "null"
	case 13:
		row.SHA256 = ""
	case 19:
		row.MD5, row.SHA256 = "", "null"
	case 23:
		row.MD5 = row.MD5[:31]
	case 29:
		row.SHA256 = "zz" + row.SHA256[2:]
	case 31:
		row.MD5, row.SHA256 = EmptyMD5, EmptySHA256
	case 37:
		row.SenderAddress = ""
	case 41:
		row.MD5 = strings.ToUpper(row.MD5)
	}
	return row
}

// generateFeed appends n deterministic rows to rows, numbered from len(rows)
// and spread over (start, end), oldest first. Oddities by row number: see
// WithFeed.
func generateFeed(rows []feedRow, seed int64, feedType string, n int, start, end time.Time) []feedRow {
	if n <= 0 {
		return rows
	}
	rows = slices.Grow(rows, n)
	step := end.Sub(start) / time.Duration(n+1)
	first := len(rows)
	for k := range n {
		i := first + k
		sum := genSum(seed, feedType, i)
		// Millisecond jitter below one step keeps the rows in order.
		ts := start.Add(step*time.Duration(k+1) + time.Duration(int64(sum[1])*int64(step)/512)).Truncate(time.Millisecond)
		r := feedRow{ts: ts.UnixNano(), gen: int64(i)}
		if i%50 == 43 && i > 0 {
			// The same hashes as the row before.
			row := genRow(seed, feedType, i, ts)
			prev := rows[i-1].row(seed, feedType)
			row.MD5, row.SHA256 = prev.MD5, prev.SHA256
			r = feedRow{ts: r.ts, gen: -1, x: &row}
		}
		rows = append(rows, r)
	}
	return rows
}

// GrowFeed appends n generated rows to feedType (creating it), spread between
// its newest row (or the data window) and the fake's clock now, as new events
// arriving between two pulls.
func (s *Server) GrowFeed(feedType string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock().UTC()
	start := now.Add(-s.cfg.window)
	rows := s.feeds[feedType]
	if n := len(rows); n > 0 && rows[n-1].ts > start.UnixNano() {
		start = time.Unix(0, rows[n-1].ts).UTC()
	}
	s.feeds[feedType] = generateFeed(rows, s.cfg.seed, feedType, n, start, now)
}

// Feed returns a copy of the rows of feedType, oldest first.
func (s *Server) Feed(feedType string) []FeedRow {
	s.mu.Lock()
	defer s.mu.Unlock()
	rows := s.feeds[feedType]
	out := make([]FeedRow, len(rows))
	for i := range rows {
		out[i] = rows[i].row(s.cfg.seed, feedType)
	}
	return out
}

// AddFeedRows adds rows to feedType (creating it), keeping the feed sorted by
// Timestamp.
func (s *Server) AddFeedRows(feedType string, rows ...FeedRow) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.feeds[feedType]
	for _, r := range rows {
		f = append(f, feedRow{ts: r.Timestamp.UnixNano(), gen: -1, x: &r})
	}
	sort.SliceStable(f, func(i, j int) bool { return f[i].ts < f[j].ts })
	s.feeds[feedType] = f
}

// SetFeedMode sets the answer mode of feedType ("" for every feed type without
// its own mode).
func (s *Server) SetFeedMode(feedType string, m FeedMode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.feedModes[feedType] = m
}

// SetFeedPageSize changes the rows per get-feed page. It panics when n < 1.
func (s *Server) SetFeedPageSize(n int) {
	if n < 1 {
		panic(fmt.Sprintf("mimecasttest: SetFeedPageSize(%d): want at least 1", n))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.feedPageSize = n
}

// parseTime parses an ISO-8601 time as clients send it: RFC 3339 with "Z" or
// "+00:00", or Mimecast's documented "+0000", with optional fractional seconds.
func parseTime(v string) (time.Time, error) {
	for _, layout := range [...]string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an ISO-8601 time like 2011-12-03T10:15:30+0000", v)
}

// parseTimeField parses the time v of the request field name into *dst, leaving
// *dst as it is when v is empty. It returns the failure to answer, or nil.
func parseTimeField(name, v string, dst *time.Time) *apiError {
	if v == "" {
		return nil
	}
	t, err := parseTime(v)
	if err != nil {
		return &apiError{Code: "err_validation_invalid_date", Message: name + ": " + err.Error()}
	}
	*dst = t
	return nil
}

// fail answers the validation failure e (see validationFail).
func (e *apiError) fail(w *bufWriter) {
	validationFail(w, e.Code, e.Message)
}

type feedRequest struct {
	Start    string `json:"start"`
	End      string `json:"end"`
	FeedType string `json:"feedType"`
	FileType string `json:"fileType"`
	Compress bool   `json:"compress"`
	Token    string `json:"token"`
}

// feedCursor is the state behind a next-page token.
type feedCursor struct {
	feedType   string
	fileType   string
	start, end time.Time
	offset     int
}

func (s *Server) handleGetFeed(w *bufWriter, req *apiRequest, _ *http.Request) {
	items, err := decodeItems[feedRequest](req)
	if err != nil {
		badRequest(w, err)
		return
	}
	var fr feedRequest
	if len(items) > 0 {
		fr = items[0]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	cur, bad := s.feedCursor(fr, now)
	if bad != nil {
		bad.fail(w)
		return
	}
	mode, ok := s.feedModes[cur.feedType]
	if !ok {
		mode = s.feedModes[""]
	}
	if s.writeFeedOddity(w, mode, cur, now) {
		return
	}
	s.writeFeedPage(w, cur, mode == FeedRepeatToken, fr.Token, now)
}

// feedCursor returns the cursor of the request: the one behind its token, or a
// new one from its fields (s.mu held). It returns the failure to answer, or nil.
func (s *Server) feedCursor(fr feedRequest, now time.Time) (feedCursor, *apiError) {
	if fr.Token != "" {
		c, ok := s.feedCursors[fr.Token]
		if !ok {
			return c, &apiError{Code: "err_threat_feed_invalid_token", Message: fmt.Sprintf("Token %q is invalid or expired", fr.Token)}
		}
		return c, nil
	}
	cur := feedCursor{feedType: fr.FeedType, fileType: fr.FileType, start: now.Add(-defaultFeedStartRange), end: now}
	if cur.feedType == "" {
		cur.feedType = FeedMalwareCustomer
	}
	if cur.fileType == "" {
		cur.fileType = "csv"
	}
	if _, ok := s.feeds[cur.feedType]; !ok {
		return cur, &apiError{Code: "err_threat_feed_invalid_feed_type", Message: fmt.Sprintf("feedType %q is not one of malware_customer, malware_grid", cur.feedType)}
	}
	if fr.Compress {
		return cur, &apiError{Code: "err_threat_feed_compress_unsupported", Message: "compress=true (a zip of feed files) is not supported by mimecasttest; send compress=false"}
	}
	if cur.fileType != "csv" && cur.fileType != "stix" {
		return cur, &apiError{Code: "err_threat_feed_invalid_file_type", Message: fmt.Sprintf("fileType %q is not one of csv, stix", cur.fileType)}
	}
	if bad := parseTimeField("start", fr.Start, &cur.start); bad != nil {
		return cur, bad
	}
	if bad := parseTimeField("end", fr.End, &cur.end); bad != nil {
		return cur, bad
	}
	if cur.end.Before(cur.start) {
		return cur, &apiError{Code: "err_validation_invalid_date", Message: fmt.Sprintf("end %s is before start %s", fr.End, fr.Start)}
	}
	return cur, nil
}

// writeFeedOddity answers the page of a mode that does not serve rows, and
// reports whether it did (s.mu held).
func (s *Server) writeFeedOddity(w *bufWriter, mode FeedMode, cur feedCursor, now time.Time) bool {
	switch mode {
	case FeedEmptyBody:
		s.writeFeedHeaders(w, cur, now)
	case FeedHeaderOnly:
		s.writeFeedHeaders(w, cur, now)
		w.body.WriteString(FeedHeader + "\n")
	case FeedJSONFail:
		validationFail(w, "err_threat_feed_unavailable", "Threat feed "+cur.feedType+" is not available")
	case FeedEndless:
		s.writeFeedHeaders(w, cur, now)
		w.header.Set(NextTokenHeader, s.newFeedToken(cur))
		w.body.WriteString(FeedHeader + "\n")
	default:
		return false
	}
	return true
}

// writeFeedPage answers the page of rows at cur, with the token of the next page;
// with repeat, a request that sent token gets that same token back (s.mu held).
func (s *Server) writeFeedPage(w *bufWriter, cur feedCursor, repeat bool, token string, now time.Time) {
	rows := s.feeds[cur.feedType]
	lo := sort.Search(len(rows), func(i int) bool { return rows[i].ts >= cur.start.UnixNano() })
	hi := sort.Search(len(rows), func(i int) bool { return rows[i].ts >= cur.end.UnixNano() })
	rows = rows[lo:hi]
	from := min(cur.offset, len(rows))
	to := min(from+s.feedPageSize, len(rows))
	page := make([]FeedRow, to-from)
	for i := range page {
		page[i] = rows[from+i].row(s.cfg.seed, cur.feedType)
	}
	s.writeFeedHeaders(w, cur, now)
	switch {
	case repeat && token != "":
		w.header.Set(NextTokenHeader, token)
	case to < len(rows):
		next := cur
		next.offset = to
		w.header.Set(NextTokenHeader, s.newFeedToken(next))
	}
	if cur.fileType == "stix" {
		w.header.Set("Content-Type", "application/json")
		writeSTIX(w, page, s)
		return
	}
	w.body.Grow((len(page) + 1) * 256)
	b := append(w.body.AvailableBuffer(), FeedHeader+"\n"...)
	for i := range page {
		b = page[i].appendCSV(b)
	}
	w.body.Write(b)
}

// newFeedToken stores cur and returns its token (s.mu held).
func (s *Server) newFeedToken(cur feedCursor) string {
	tok := s.opaque("eNo")
	s.feedCursors[tok] = cur
	return tok
}

// writeFeedHeaders sets the headers of a feed file download (s.mu held).
func (s *Server) writeFeedHeaders(w *bufWriter, cur feedCursor, now time.Time) {
	w.status = http.StatusOK
	w.header.Set("Content-Type", "application/octet-stream")
	stamp := now.UTC().Format("20060102150405") + fmt.Sprintf("%03d", now.Nanosecond()/int(time.Millisecond))
	w.header.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s_%s_%s.%s"`, cur.feedType, cur.fileType, stamp, cur.fileType))
}

// writeSTIX renders page as a STIX 2.0 bundle (s.mu held).
func writeSTIX(w *bufWriter, page []FeedRow, s *Server) {
	type object struct {
		Type             string   `json:"type"`
		ID               string   `json:"id"`
		Created          string   `json:"created"`
		Modified         string   `json:"modified"`
		Name             string   `json:"name,omitempty"`
		Labels           []string `json:"labels,omitempty"`
		Pattern          string   `json:"pattern,omitempty"`
		ValidFrom        string   `json:"valid_from,omitempty"`
		RelationshipType string   `json:"relationship_type,omitempty"`
		SourceRef        string   `json:"source_ref,omitempty"`
		TargetRef        string   `json:"target_ref,omitempty"`
	}
	id := func(kind string) string {
		h := sha256.Sum256([]byte(kind + strconv.Itoa(s.next())))
		x := hex.EncodeToString(h[:16])
		return kind + "--" + x[:8] + "-" + x[8:12] + "-4" + x[13:16] + "-a" + x[17:20] + "-" + x[20:32]
	}
	objs := make([]object, 0, len(page)*4)
	for _, r := range page {
		ts := r.Timestamp.UTC().Format(FeedTimeLayout)
		mal := object{Type: "malware", ID: id("malware"), Created: ts, Modified: ts, Name: r.FileName, Labels: []string{"virus"}}
		objs = append(objs, mal)
		for _, h := range [...][2]string{{"MD5", r.MD5}, {"'SHA-256'", r.SHA256}} {
			if h[1] == "" || h[1] == "null" {
				continue
			}
			ind := object{Type: "indicator", ID: id("indicator"), Created: ts, Modified: ts, Labels: []string{"malicious-activity"},
				Pattern: fmt.Sprintf("[file:hashes.%s = '%s']", h[0], h[1]), ValidFrom: ts}
			rel := object{Type: "relationship", ID: id("relationship"), Created: ts, Modified: ts,
				RelationshipType: "indicates", SourceRef: ind.ID, TargetRef: mal.ID}
			objs = append(objs, ind, rel)
		}
	}
	bundle := struct {
		Type        string   `json:"type"`
		ID          string   `json:"id"`
		SpecVersion string   `json:"spec_version"`
		Objects     []object `json:"objects"`
	}{"bundle", id("bundle"), "2.0", objs}
	if err := json.NewEncoder(&w.body).Encode(bundle); err != nil {
		panic(fmt.Sprintf("mimecasttest: encoding STIX: %v", err))
	}
}
