package mimecast

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/ctexchange/cte"
	"github.com/ctexchange/cte/ioc"
)

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
	example = ioc.Truncate(example, 80)
	v.idx[reason] = len(v.list)
	v.list = append(v.list, cte.Invalid{Reason: reason, Count: 1, Example: strings.Clone(example)})
}

// addBytes is add for an example held in bytes: it makes a string of it only
// the first time reason is seen.
func (v *invalids) addBytes(reason string, example []byte) {
	if i, ok := v.idx[reason]; ok {
		v.list[i].Count++
		return
	}
	v.add(reason, string(example))
}

// merge adds the counts of list.
func (v *invalids) merge(list []cte.Invalid) {
	for _, x := range list {
		if v.idx == nil {
			v.idx = map[string]int{}
		}
		if i, ok := v.idx[x.Reason]; ok {
			v.list[i].Count += x.Count
			continue
		}
		v.idx[x.Reason] = len(v.list)
		v.list = append(v.list, x)
	}
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
	// hint is the most indicators a chunk held so far: the next chunk's slice
	// is made that large at once, not grown by doubling (a page of 5,000 rows
	// holds 10,000 indicators of 168 bytes; growing it cost more than parsing).
	hint int
}

// feedResult is what one page gave.
type feedResult struct {
	indicators []ioc.Indicator
	newest     time.Time // newest valid Timestamp, zero if none
	rows       int       // data rows read
	invalid    invalids
}

// maxFeedLine bounds one line of a feed file.
const maxFeedLine = 1 << 20

// feedColumns are the positions of the columns the parser reads; -1 when absent.
type feedColumns struct{ ts, sender, md5, sha, n int }

// parse parses a whole CSV page held in memory; see stream.
func (p *feedParser) parse(body []byte, out []ioc.Indicator) (feedResult, error) {
	var all feedResult
	all.indicators = out
	err := p.stream(bytes.NewReader(body), 0, func(res *feedResult, _ bool) error {
		all.indicators = append(all.indicators, res.indicators...)
		all.rows += res.rows
		if res.newest.After(all.newest) {
			all.newest = res.newest
		}
		all.invalid.merge(res.invalid.list)
		return nil
	})
	return all, err
}

// stream parses one CSV page read from r: a header line naming the columns
// (Timestamp, SenderAddress, MD5, SHA256, others ignored), then one row per
// file. Fields are separated by '|'; a field may be double-quoted. Every chunk
// indicators (0: no chunking) and at the end of the page, emit gets what was
// parsed since the last call, so memory stays bounded by a chunk and a line
// whatever the size of the page. last is true on the final call.
func (p *feedParser) stream(r io.Reader, chunk int, emit func(res *feedResult, last bool) error) error {
	lr := lineReader{r: bufio.NewReaderSize(r, 64<<10)}
	var res feedResult
	header, err := lr.next(true)
	if err == io.EOF {
		return emit(&res, true) // an empty feed
	}
	if err != nil {
		return err
	}
	var fields [32][]byte
	cols := feedColumns{ts: -1, sender: -1, md5: -1, sha: -1}
	hdr := splitRow(header, fields[:0])
	for i, h := range hdr {
		switch string(bytes.TrimSpace(h)) {
		case "Timestamp":
			cols.ts = i
		case "SenderAddress":
			cols.sender = i
		case "MD5":
			cols.md5 = i
		case "SHA256":
			cols.sha = i
		}
	}
	if cols.md5 < 0 && cols.sha < 0 {
		return fmt.Errorf("%w: feed header %s names neither an MD5 nor a SHA256 column", ErrProtocol, snippet(header))
	}
	cols.n = len(hdr)
	res.indicators = p.alloc(lr.r, chunk)
	for {
		line, err := lr.next(false)
		if err == io.EOF {
			p.hint = max(p.hint, len(res.indicators))
			return emit(&res, true)
		}
		if err != nil {
			return err
		}
		p.row(&res, cols, line, fields[:0])
		if chunk > 0 && len(res.indicators) >= chunk {
			p.hint = max(p.hint, len(res.indicators))
			if err := emit(&res, false); err != nil {
				return err
			}
			res = feedResult{indicators: p.alloc(lr.r, chunk)}
		}
	}
}

// alloc makes the slice of a chunk's indicators: as large as the largest
// chunk before, or on the first, two per line already buffered; never more
// than a chunk.
func (p *feedParser) alloc(r *bufio.Reader, chunk int) []ioc.Indicator {
	n := p.hint
	if n == 0 {
		b, _ := r.Peek(r.Buffered())
		n = 2 * bytes.Count(b, []byte{'\n'})
	}
	if chunk > 0 {
		n = min(n, chunk)
	}
	if n == 0 {
		return nil
	}
	return make([]ioc.Indicator, 0, n)
}

// row parses one non-empty data line into res. The row's comment and hashes
// become one string: what a consumer keeps of a row (its values, maybe its
// comment) keeps only that row alive. (One string for many rows was tried:
// a store that keeps some values of a page then kept every row next to them,
// and the whole-job peak heap grew by a sixth.)
func (p *feedParser) row(res *feedResult, cols feedColumns, line []byte, fields [][]byte) {
	res.rows++
	row := splitRow(line, fields)
	if len(row) != cols.n {
		res.invalid.add(fmt.Sprintf("row: want %d fields, got %d", cols.n, len(row)), string(line))
		return
	}
	var ts time.Time
	if cols.ts >= 0 {
		if t, ok := parseTimestamp(row[cols.ts]); ok {
			ts = t
			if t.After(res.newest) {
				res.newest = t
			}
		} else {
			res.invalid.addBytes("timestamp: not RFC 3339", row[cols.ts])
		}
	}
	b := p.buf[:0]
	if cols.sender >= 0 {
		if snd := asciiTrim(row[cols.sender]); len(snd) > 0 && string(snd) != "null" {
			b = append(b, "Sent from "...)
			b = append(b, snd...)
		}
	}
	comEnd := len(b)
	var spans [2]struct {
		t        ioc.Type
		val, end int
	}
	n := 0
	for _, h := range [2]struct {
		t    ioc.Type
		col  int
		want bool
	}{{ioc.TypeSHA256, cols.sha, p.sha256}, {ioc.TypeMD5, cols.md5, p.md5}} {
		if !h.want || h.col < 0 {
			continue
		}
		at := len(b)
		var ok bool
		if b, ok = hashField(b, &res.invalid, h.t, row[h.col]); ok {
			spans[n].t, spans[n].val, spans[n].end = h.t, at, len(b)
			n++
		}
	}
	p.buf = b
	if n == 0 {
		return
	}
	str := string(b)
	for _, sp := range spans[:n] {
		// Filled in place: copying a whole Indicator in cost more than the
		// rest of the row. The slots past the length of a slice alloc made
		// or append grew are zero.
		inds := res.indicators
		if len(inds) == cap(inds) {
			inds = slices.Grow(inds, 1)
		}
		inds = inds[:len(inds)+1]
		in := &inds[len(inds)-1]
		in.Type, in.Value, in.Tags, in.FirstSeen, in.LastSeen = sp.t, str[sp.val:sp.end], p.tags, ts, ts
		if comEnd > 0 {
			in.Comments = str[:comEnd]
		}
		res.indicators = inds
	}
}

// lineReader reads the lines of a feed file without copying those that fit
// its buffer. A line is valid until the next call.
type lineReader struct {
	r       *bufio.Reader
	long    []byte // a line longer than the buffer
	started bool
}

// next returns the next non-empty line without its end of line (and, first, a
// byte order mark); io.EOF at the end. A line over maxFeedLine is an error.
func (l *lineReader) next(first bool) ([]byte, error) {
	for {
		line, err := l.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			l.long = append(l.long[:0], line...)
			for err == bufio.ErrBufferFull {
				line, err = l.r.ReadSlice('\n')
				l.long = append(l.long, line...)
				if len(l.long) > maxFeedLine {
					return nil, fmt.Errorf("%w: a feed line is longer than %d bytes", ErrProtocol, maxFeedLine)
				}
			}
			line = l.long
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("read feed page: %w", err)
		}
		if !l.started {
			l.started = true
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
		}
		line = trimCR(bytes.TrimSuffix(line, []byte{'\n'}))
		if first && len(bytes.TrimSpace(line)) == 0 || len(line) == 0 {
			if err == io.EOF {
				return nil, io.EOF
			}
			continue
		}
		return line, nil
	}
}

// hashField appends the normal form of one hash cell to dst, or counts why
// it is not one (empty, null, or the rule ioc.Parse names) and returns dst
// unchanged and false. The rule is ioc's (ioc.AppendHash): the plugin checks
// each cell once, and yields only normal values.
func hashField(dst []byte, inv *invalids, t ioc.Type, raw []byte) ([]byte, bool) {
	raw = asciiTrim(raw)
	switch {
	case len(raw) == 0:
		inv.add(hashReason(t, "empty"), "")
		return dst, false
	case string(raw) == "null":
		inv.add(hashReason(t, "null"), "null")
		return dst, false
	}
	out, err := ioc.AppendHash(dst, t, raw)
	if err != nil {
		inv.addBytes(ioc.Reason(err), raw)
		return dst, false
	}
	return out, true
}

// hashReason is the reason for an empty or null hash cell, written out so
// that it is not built again for every row.
func hashReason(t ioc.Type, what string) string {
	switch {
	case t == ioc.TypeMD5 && what == "empty":
		return "md5: empty"
	case t == ioc.TypeMD5:
		return "md5: null"
	case what == "empty":
		return "sha256: empty"
	}
	return "sha256: null"
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
	h, ok := hashField(nil, inv, t, raw)
	if !ok {
		return out
	}
	return append(out, ioc.Indicator{Type: t, Value: string(h), Comments: comment, Tags: p.tags, FirstSeen: ts, LastSeen: ts})
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
	if day > daysIn(year, month) {
		return time.Time{}, false // e.g. February 30
	}
	secs := daysFromCivil(year, month, day)*86400 + int64(hour*3600+minute*60+sec-offset)
	return time.Unix(secs, int64(nsec)).UTC(), true
}

// daysIn is the number of days of month (1-12) in year.
func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil is the number of days from 1970-01-01 to the given date of
// the proleptic Gregorian calendar (Howard Hinnant's days_from_civil), so a
// timestamp is decoded without time.Date's normalisation.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y // floored: y is -1 for January 0000
	if era < 0 {
		era -= 399
	}
	era /= 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}
