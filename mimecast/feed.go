package mimecast

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
)

// Paths of the endpoints used.
const (
	pathGetAccount     = "/api/account/get-account"
	pathGetFeed        = "/api/ttp/threat-intel/get-feed"
	pathCreateBatch    = "/api/byo-threat-intelligence/create-batch"
	pathGetLogs        = "/api/ttp/url/get-logs"
	pathDecodeURL      = "/api/ttp/url/decode-url"
	pathCreateManaged  = "/api/ttp/url/create-managed-url"
	pathGetAllManaged  = "/api/ttp/url/get-all-managed-urls"
	pathDeleteManaged  = "/api/ttp/url/delete-managed-url"
	headerFeedNextPage = "x-mc-threat-feed-next-token"
)

// FeedRequest asks for one page of the threat-intel hash feed.
type FeedRequest struct {
	FeedType string    // FeedMalwareCustomer or FeedMalwareGrid
	Start    time.Time // sent as UTC RFC 3339
	End      time.Time // sent as UTC RFC 3339; zero omits it
	Token    string    // the previous page's NextToken; empty for the first page
	FileType string    // FileCSV (default) or FileSTIX
}

// FeedPage is one page of the feed: the raw body and the token of the next page.
type FeedPage struct {
	Body      []byte // pipe-delimited CSV with a header line, or a STIX 2.0 bundle
	NextToken string // empty on the last page
	RequestID string
}

type feedBody struct {
	FileType string `json:"fileType"`
	FeedType string `json:"feedType"`
	Start    string `json:"start,omitempty"`
	End      string `json:"end,omitempty"`
	Token    string `json:"token,omitempty"`
}

// timeFormat is how times are sent: explicit UTC RFC 3339.
func timeFormat(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// GetFeed reads one page of the hash feed. A JSON answer (Mimecast's way of failing
// with HTTP 200) is decoded as an envelope and returned as an *Error, never parsed as
// CSV.
func (c *Client) GetFeed(ctx context.Context, fr FeedRequest) (*FeedPage, error) {
	ft := fr.FileType
	if ft == "" {
		ft = FileCSV
	}
	body := feedBody{FileType: ft, FeedType: fr.FeedType, Start: timeFormat(fr.Start), End: timeFormat(fr.End), Token: fr.Token}
	a, err := c.post(ctx, pathGetFeed, request{Data: []any{body}}, maxFeedBody)
	if err != nil {
		return nil, err
	}
	if looksJSON(a.body) && !(ft == FileSTIX && isBundle(a.body)) {
		env, err := decodeEnvelope(a.body)
		if err != nil {
			return nil, fmt.Errorf("mimecast %s: %w", pathGetFeed, err)
		}
		if e := envelopeError(pathGetFeed, http.StatusOK, env, a.reqID); e != nil {
			c.explain(e)
			return nil, e
		}
		// A JSON success without a file: treat as an empty page.
		return &FeedPage{RequestID: a.reqID}, nil
	}
	return &FeedPage{Body: a.body, NextToken: strings.TrimSpace(a.header.Get(headerFeedNextPage)), RequestID: a.reqID}, nil
}

// isBundle reports whether a JSON body is a STIX bundle rather than an envelope.
func isBundle(b []byte) bool {
	var head struct {
		Type string `json:"type"`
	}
	return json.Unmarshal(b, &head) == nil && head.Type == "bundle"
}

// looksJSON reports whether a body starts (after white space and a BOM) with '{'.
func looksJSON(b []byte) bool {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return true
		}
		return false
	}
	return false
}

// invalids counts values that are not valid indicators, by reason.
type invalids struct {
	idx  map[string]int
	list []cte.Invalid
}

func (v *invalids) add(reason, example string) {
	if v.idx == nil {
		v.idx = map[string]int{}
	}
	if i, ok := v.idx[reason]; ok {
		v.list[i].Count++
		return
	}
	if len(example) > 80 {
		cut := 80
		for cut > 0 && !utf8.RuneStart(example[cut]) {
			cut--
		}
		example = example[:cut] + "…"
	}
	v.idx[reason] = len(v.list)
	v.list = append(v.list, cte.Invalid{Reason: reason, Count: 1, Example: strings.Clone(example)})
}

func (v *invalids) total() int {
	n := 0
	for _, x := range v.list {
		n += x.Count
	}
	return n
}

// feedParser parses get-feed CSV pages into indicators. It scans bytes itself (no
// encoding/csv) so a row costs only the strings kept: the hashes and the comment.
type feedParser struct {
	md5, sha256 bool     // hash types wanted
	tags        []string // tags of every indicator, shared (cap == len)
	buf         []byte   // scratch for one row
}

// feedResult is what one page gave.
type feedResult struct {
	indicators []ioc.Indicator
	newest     time.Time // newest valid Timestamp, zero if none
	rows       int       // data rows read
	invalid    invalids
}

// parse parses one CSV page: a header line naming the columns (Timestamp,
// SenderAddress, MD5, SHA256, others ignored), then one row per file. Fields are
// separated by '|'; a field may be double-quoted. Indicators are appended to out.
func (p *feedParser) parse(body []byte, out []ioc.Indicator) (feedResult, error) {
	res := feedResult{indicators: out}
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	if len(bytes.TrimSpace(body)) == 0 {
		return res, nil // an empty feed
	}
	nl := bytes.IndexByte(body, '\n')
	if nl < 0 {
		nl = len(body) // a header line without rows
	}
	var fields [32][]byte
	header := splitRow(trimCR(body[:nl]), fields[:0])
	colTS, colSender, colMD5, colSHA := -1, -1, -1, -1
	for i, h := range header {
		switch string(bytes.TrimSpace(h)) {
		case "Timestamp":
			colTS = i
		case "SenderAddress":
			colSender = i
		case "MD5":
			colMD5 = i
		case "SHA256":
			colSHA = i
		}
	}
	if colMD5 < 0 && colSHA < 0 {
		return res, fmt.Errorf("%w: feed header %s names neither an MD5 nor a SHA256 column", ErrProtocol, snippet(body[:nl]))
	}
	ncol := len(header)
	if res.indicators == nil {
		res.indicators = make([]ioc.Indicator, 0, bytes.Count(body, []byte{'\n'})*2)
	}
	rest := body[min(nl+1, len(body)):]
	for len(rest) > 0 {
		var line []byte
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			line, rest = rest, nil
		}
		line = trimCR(line)
		if len(line) == 0 {
			continue
		}
		res.rows++
		row := splitRow(line, fields[:0])
		if len(row) != ncol {
			res.invalid.add(fmt.Sprintf("row: want %d fields, got %d", ncol, len(row)), string(line))
			continue
		}
		var ts time.Time
		if colTS >= 0 {
			t, ok := parseTimestamp(row[colTS])
			if ok {
				ts = t
				if t.After(res.newest) {
					res.newest = t
				}
			} else {
				res.invalid.add("timestamp: not RFC 3339", string(row[colTS]))
			}
		}
		// One string per row holds the comment and both hashes in normal form.
		buf := p.buf[:0]
		if colSender >= 0 {
			if snd := asciiTrim(row[colSender]); len(snd) > 0 && string(snd) != "null" {
				buf = append(buf, "Sent from "...)
				buf = append(buf, snd...)
			}
		}
		commentEnd, shaAt, md5At := len(buf), -1, -1
		if p.sha256 && colSHA >= 0 {
			if h, ok := hashField(&res.invalid, ioc.TypeSHA256, row[colSHA]); ok {
				shaAt = len(buf)
				buf = appendLower(buf, h)
			}
		}
		if p.md5 && colMD5 >= 0 {
			if h, ok := hashField(&res.invalid, ioc.TypeMD5, row[colMD5]); ok {
				md5At = len(buf)
				buf = appendLower(buf, h)
			}
		}
		p.buf = buf
		if shaAt < 0 && md5At < 0 {
			continue
		}
		str := string(buf)
		comment := str[:commentEnd]
		if shaAt >= 0 {
			res.indicators = append(res.indicators, ioc.Indicator{Type: ioc.TypeSHA256, Value: str[shaAt : shaAt+64], Comments: comment, Tags: p.tags, FirstSeen: ts, LastSeen: ts})
		}
		if md5At >= 0 {
			res.indicators = append(res.indicators, ioc.Indicator{Type: ioc.TypeMD5, Value: str[md5At : md5At+32], Comments: comment, Tags: p.tags, FirstSeen: ts, LastSeen: ts})
		}
	}
	return res, nil
}

// hashField checks one hash cell: it returns the trimmed value when it is hex of
// the type's length, and otherwise counts why not (empty, null, or the rule
// ioc.Parse names).
func hashField(inv *invalids, t ioc.Type, raw []byte) ([]byte, bool) {
	raw = asciiTrim(raw)
	n := 64
	if t == ioc.TypeMD5 {
		n = 32
	}
	switch {
	case len(raw) == 0:
		inv.add(t.String()+": empty", "")
		return nil, false
	case string(raw) == "null":
		inv.add(t.String()+": null", "null")
		return nil, false
	case len(raw) == n && isHexBytes(raw):
		return raw, true
	}
	_, err := ioc.Parse(t, string(raw))
	inv.add(t.String()+": "+ruleOrNotHex(err), string(raw))
	return nil, false
}

func ruleOrNotHex(err error) string {
	if err == nil {
		return "not hex"
	}
	return ruleOf(err)
}

func isHexBytes(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// appendLower appends hex digits in lower case.
func appendLower(dst, hex []byte) []byte {
	n := len(dst)
	dst = append(dst, hex...)
	for i := n; i < len(dst); i++ {
		if c := dst[i]; 'A' <= c && c <= 'F' {
			dst[i] = c + 'a' - 'A'
		}
	}
	return dst
}

// asciiTrim trims ASCII white space, as ioc.Parse does.
func asciiTrim(b []byte) []byte {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' }
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// add appends one hash indicator, or counts why raw is not one.
func (p *feedParser) add(out []ioc.Indicator, inv *invalids, t ioc.Type, raw []byte, comment string, ts time.Time) []ioc.Indicator {
	h, ok := hashField(inv, t, raw)
	if !ok {
		return out
	}
	return append(out, ioc.Indicator{Type: t, Value: string(appendLower(nil, h)), Comments: comment, Tags: p.tags, FirstSeen: ts, LastSeen: ts})
}

func trimCR(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return b[:len(b)-1]
	}
	return b
}

// splitRow splits a line at '|' into dst. A field starting with '"' runs to the next
// '"' not doubled; "" inside it stands for one quote (the quotes stay in place only
// in that rare case's copy).
func splitRow(line []byte, dst [][]byte) [][]byte {
	if bytes.IndexByte(line, '"') < 0 {
		for {
			i := bytes.IndexByte(line, '|')
			if i < 0 {
				return append(dst, line)
			}
			dst = append(dst, line[:i])
			line = line[i+1:]
		}
	}
	for {
		if len(line) > 0 && line[0] == '"' {
			var f []byte
			i := 1
			for i < len(line) {
				if line[i] == '"' {
					if i+1 < len(line) && line[i+1] == '"' {
						f = append(f, '"')
						i += 2
						continue
					}
					i++
					break
				}
				f = append(f, line[i])
				i++
			}
			if f == nil {
				f = []byte{}
			}
			// Anything between the closing quote and the next '|' belongs to the field.
			j := bytes.IndexByte(line[i:], '|')
			if j < 0 {
				return append(dst, append(f, line[i:]...))
			}
			dst = append(dst, append(f, line[i:i+j]...))
			line = line[i+j+1:]
			continue
		}
		i := bytes.IndexByte(line, '|')
		if i < 0 {
			return append(dst, line)
		}
		dst = append(dst, line[:i])
		line = line[i+1:]
	}
}

// parseTimestamp reads RFC 3339 (Z or ±hh:mm) and ISO 8601 with a ±hhmm offset,
// in UTC. The common shape is parsed without allocating.
func parseTimestamp(b []byte) (time.Time, bool) {
	b = bytes.TrimSpace(b)
	if t, ok := fastTimestamp(b); ok {
		return t, true
	}
	if len(b) == 0 || len(b) > 64 {
		return time.Time{}, false
	}
	s := string(b)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), true
	}
	if t, err := time.Parse("2006-01-02T15:04:05.999999999-0700", s); err == nil {
		return t.UTC(), true
	}
	return time.Time{}, false
}

// fastTimestamp parses YYYY-MM-DDTHH:MM:SS[.fraction](Z|±hh:mm|±hhmm).
func fastTimestamp(b []byte) (time.Time, bool) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != 't') || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	num := func(i, n int) (int, bool) {
		v := 0
		for _, c := range b[i : i+n] {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 2)
	day, ok3 := num(8, 2)
	hour, ok4 := num(11, 2)
	minute, ok5 := num(14, 2)
	sec, ok6 := num(17, 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	i, nsec := 19, 0
	if b[i] == '.' || b[i] == ',' {
		i++
		digits := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if digits < 9 {
				nsec = nsec*10 + int(b[i]-'0')
				digits++
			}
			i++
		}
		if digits == 0 {
			return time.Time{}, false
		}
		for ; digits < 9; digits++ {
			nsec *= 10
		}
	}
	offset := 0
	switch rest := b[i:]; {
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':',
		len(rest) == 5 && (rest[0] == '+' || rest[0] == '-'):
		hh, ok := num(i+1, 2)
		mmAt := i + 3
		if len(rest) == 6 {
			mmAt = i + 4
		}
		mm, ok2 := num(mmAt, 2)
		if !ok || !ok2 || hh > 23 || mm > 59 {
			return time.Time{}, false
		}
		offset = (hh*60 + mm) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if t.Day() != day {
		return time.Time{}, false // e.g. February 30
	}
	return t.Add(-time.Duration(offset) * time.Second), true
}
