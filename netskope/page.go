package netskope

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// The Data Export page decoder. A page holds up to 10,000 alerts of about 1–3 KB,
// most of whose fields the plugin does not read, so the page is scanned once by hand:
// every byte is checked as encoding/json would check it (a page that json.Valid
// refuses is an error here too), the fields the plugin reads are decoded and the rest
// are skipped without allocating. Keys match exactly, as the API writes them.
// FuzzDecodeAlertPage holds this decoder to a reference built on encoding/json.

// alertChunk is the first chunk of alerts a page is decoded into.
const alertChunk = 256

// maxDepth is the nesting limit of encoding/json.
const maxDepth = 10000

// special marks the bytes that end a run of plain string content.
var special = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	for c := 0x80; c < 0x100; c++ {
		t[c] = true
	}
	return t
}()

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// specialWord reports whether any of the 8 bytes in x is special: below 0x20, '"',
// '\\' or non-ASCII (the exact "has less" and "has zero" bit tests).
func specialWord(x uint64) bool {
	low := (x - 0x20*lsb) &^ x
	q := x ^ ('"' * lsb)
	bs := x ^ ('\\' * lsb)
	return (low|((q-lsb)&^q)|((bs-lsb)&^bs)|x)&msb != 0
}

type pageDecoder struct {
	b        []byte
	i        int
	depth    int
	problems []string
}

func (d *pageDecoder) syntax(what string) error {
	if d.i >= len(d.b) {
		return fmt.Errorf("%w: the page is not valid JSON: unexpected end after byte %d, want %s", ErrBadAnswer, len(d.b), what)
	}
	return fmt.Errorf("%w: the page is not valid JSON: byte %d (%q): want %s", ErrBadAnswer, d.i, d.b[d.i], what)
}

func (d *pageDecoder) problem(field, got string) {
	if len(d.problems) < maxReasons {
		d.problems = append(d.problems, field+": got a JSON "+got)
	}
}

// peek skips white space and returns the next byte, or 0 at the end.
func (d *pageDecoder) peek() byte {
	for d.i < len(d.b) {
		switch c := d.b[d.i]; c {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return c
		}
	}
	return 0
}

func (d *pageDecoder) expect(c byte, what string) error {
	if d.peek() != c {
		return d.syntax(what)
	}
	d.i++
	return nil
}

// rawString scans the string at d.i (which is '"'). It returns the content between
// the quotes and whether it is plain: ASCII without escapes, so it is its own value.
func (d *pageDecoder) rawString() ([]byte, bool, error) {
	b := d.b
	start := d.i + 1
	i := start
	plain := true
	for {
		for i+8 <= len(b) && !specialWord(binary.LittleEndian.Uint64(b[i:])) {
			i += 8
		}
		for i < len(b) && !special[b[i]] {
			i++
		}
		if i >= len(b) {
			d.i = i
			return nil, false, d.syntax("the end of a string")
		}
		switch c := b[i]; {
		case c == '"':
			d.i = i + 1
			return b[start:i], plain, nil
		case c == '\\':
			plain = false
			if i+1 >= len(b) {
				d.i = len(b)
				return nil, false, d.syntax("an escape")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex4(b[i+2:i+6]) {
					d.i = i
					return nil, false, d.syntax(`\u and four hex digits`)
				}
				i += 6
			default:
				d.i = i
				return nil, false, d.syntax("a valid escape")
			}
		case c < 0x20:
			d.i = i
			return nil, false, d.syntax("no control character in a string")
		default: // non-ASCII
			plain = false
			i++
		}
	}
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// stringAt decodes the string at d.i.
func (d *pageDecoder) stringAt() (string, error) {
	start := d.i
	raw, plain, err := d.rawString()
	if err != nil {
		return "", err
	}
	if plain {
		return string(raw), nil
	}
	var s string
	if err := json.Unmarshal(d.b[start:d.i], &s); err != nil { // escapes, invalid UTF-8 → U+FFFD
		return "", d.syntax("a valid string")
	}
	return s, nil
}

// number scans the number at d.i and returns its text.
func (d *pageDecoder) number() ([]byte, error) {
	b := d.b
	start := d.i
	i := start
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	default:
		d.i = i
		return nil, d.syntax("a digit")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			d.i = i
			return nil, d.syntax("a digit after the decimal point")
		}
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			d.i = i
			return nil, d.syntax("a digit in the exponent")
		}
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	}
	d.i = i
	return b[start:i], nil
}

// parseNumber reads JSON number text as float64; out-of-range values are ±Inf.
func parseNumber(t []byte) float64 {
	if len(t) <= 15 {
		var n int64
		neg := false
		i := 0
		if t[0] == '-' {
			neg, i = true, 1
		}
		fast := i < len(t)
		for ; i < len(t); i++ {
			c := t[i]
			if c < '0' || c > '9' {
				fast = false
				break
			}
			n = n*10 + int64(c-'0')
		}
		if fast {
			if neg {
				return -float64(n)
			}
			return float64(n)
		}
	}
	f, _ := strconv.ParseFloat(string(t), 64) // the grammar was checked; range errors give ±Inf
	return f
}

func (d *pageDecoder) literal(word string) error {
	if len(d.b)-d.i < len(word) || string(d.b[d.i:d.i+len(word)]) != word {
		return d.syntax(word)
	}
	d.i += len(word)
	return nil
}

// kind names the JSON value at d.i for problems.
func kind(c byte) string {
	switch c {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

// skip scans past any value.
func (d *pageDecoder) skip() error {
	switch c := d.peek(); c {
	case '"':
		_, _, err := d.rawString()
		return err
	case '{':
		return d.object(func([]byte) error { return d.skip() })
	case '[':
		return d.array(d.skip)
	case 't':
		return d.literal("true")
	case 'f':
		return d.literal("false")
	case 'n':
		return d.literal("null")
	default:
		_, err := d.number()
		return err
	}
}

func (d *pageDecoder) push() error {
	d.depth++
	if d.depth > maxDepth {
		return d.syntax("less nesting")
	}
	return nil
}

// object scans the object at d.i, calling field for each key with the scanner at its
// value. field must consume the value. key is only valid during the call.
func (d *pageDecoder) object(field func(key []byte) error) error {
	if err := d.expect('{', "an object"); err != nil {
		return err
	}
	if err := d.push(); err != nil {
		return err
	}
	if d.peek() == '}' {
		d.i++
		d.depth--
		return nil
	}
	for {
		if d.peek() != '"' {
			return d.syntax("a key")
		}
		raw, plain, err := d.rawString()
		if err != nil {
			return err
		}
		key := raw
		if !plain {
			var s string
			if err := json.Unmarshal(d.b[d.i-len(raw)-2:d.i], &s); err != nil {
				return d.syntax("a valid key")
			}
			key = []byte(s)
		}
		if err := d.expect(':', "':'"); err != nil {
			return err
		}
		d.peek()
		if err := field(key); err != nil {
			return err
		}
		switch d.peek() {
		case ',':
			d.i++
		case '}':
			d.i++
			d.depth--
			return nil
		default:
			return d.syntax("',' or '}'")
		}
	}
}

// array scans the array at d.i, calling elem with the scanner at each element.
func (d *pageDecoder) array(elem func() error) error {
	if err := d.expect('[', "an array"); err != nil {
		return err
	}
	if err := d.push(); err != nil {
		return err
	}
	if d.peek() == ']' {
		d.i++
		d.depth--
		return nil
	}
	for {
		d.peek()
		if err := elem(); err != nil {
			return err
		}
		switch d.peek() {
		case ',':
			d.i++
		case ']':
			d.i++
			d.depth--
			return nil
		default:
			return d.syntax("',' or ']'")
		}
	}
}

// str decodes a string field: a string, or null for empty; another type is a problem.
func (d *pageDecoder) str(dst *string, field string) error {
	switch c := d.peek(); c {
	case '"':
		s, err := d.stringAt()
		*dst = s
		return err
	case 'n':
		*dst = ""
		return d.literal("null")
	default:
		*dst = ""
		d.problem(field, kind(c))
		return d.skip()
	}
}

// num decodes a number field: a number, a string holding one, or null for 0.
func (d *pageDecoder) num(dst *float64, field string) error {
	switch c := d.peek(); {
	case c == '-' || '0' <= c && c <= '9':
		t, err := d.number()
		if err != nil {
			return err
		}
		*dst = parseNumber(t)
		return nil
	case c == 'n':
		*dst = 0
		return d.literal("null")
	case c == '"':
		s, err := d.stringAt()
		if err != nil {
			return err
		}
		f, perr := strconv.ParseFloat(s, 64)
		if perr != nil && !errors.Is(perr, strconv.ErrRange) {
			*dst = 0
			d.problem(field, "string that is not a number")
			return nil
		}
		*dst = f
		return nil
	default:
		*dst = 0
		d.problem(field, kind(c))
		return d.skip()
	}
}

// categories decodes malsite_category: an array of strings, one string, or null.
func (d *pageDecoder) categories(dst *Categories) error {
	switch c := d.peek(); c {
	case '[':
		*dst = nil
		return d.array(func() error {
			if d.peek() != '"' {
				d.problem("result.malsite_category", kind(d.peek())+" in the list")
				return d.skip()
			}
			s, err := d.stringAt()
			*dst = append(*dst, s)
			return err
		})
	case '"':
		s, err := d.stringAt()
		*dst = Categories{s}
		return err
	case 'n':
		*dst = nil
		return d.literal("null")
	default:
		*dst = nil
		d.problem("result.malsite_category", kind(c))
		return d.skip()
	}
}

func (d *pageDecoder) alert(a *Alert) error {
	return d.object(func(key []byte) error {
		switch string(key) {
		case "_id":
			return d.str(&a.ID, "result._id")
		case "alert_type":
			return d.str(&a.AlertType, "result.alert_type")
		case "severity":
			return d.str(&a.Severity, "result.severity")
		case "timestamp":
			return d.num(&a.Timestamp, "result.timestamp")
		case "object":
			return d.str(&a.Object, "result.object")
		case "malware_name":
			return d.str(&a.MalwareName, "result.malware_name")
		case "malware_type":
			return d.str(&a.MalwareType, "result.malware_type")
		case "md5":
			return d.str(&a.MD5, "result.md5")
		case "local_md5":
			return d.str(&a.LocalMD5, "result.local_md5")
		case "sha256":
			return d.str(&a.SHA256, "result.sha256")
		case "local_sha256":
			return d.str(&a.LocalSHA256, "result.local_sha256")
		case "url":
			return d.str(&a.URL, "result.url")
		case "malsite_category":
			return d.categories(&a.MalsiteCategory)
		}
		return d.skip()
	})
}

// rawValue scans any value and returns its text.
func (d *pageDecoder) rawValue() (json.RawMessage, error) {
	start := d.i
	if err := d.skip(); err != nil {
		return nil, err
	}
	return json.RawMessage(d.b[start:d.i]), nil
}

// alerts decodes the "result" value: an array of alert objects (null elements are
// skipped) or null. bad describes a result of another shape, for decodePage to report
// once the whole page is known to be valid JSON.
func (d *pageDecoder) alerts() (alerts []Alert, bad string, err error) {
	switch c := d.peek(); c {
	case '[':
	case 'n':
		return nil, "", d.literal("null")
	default:
		return nil, "a " + kind(c), d.skip()
	}
	// Alerts are decoded into chunks and copied once into a slice of the right size,
	// rather than grown by doubling.
	var chunks [][]Alert
	cur := make([]Alert, 0, alertChunk)
	n := 0
	err = d.array(func() error {
		switch d.peek() {
		case 'n':
			return d.literal("null")
		case '{':
			if len(cur) == cap(cur) {
				chunks = append(chunks, cur)
				cur = make([]Alert, 0, min(2*cap(cur), 4*alertChunk))
			}
			cur = append(cur, Alert{})
			n++
			return d.alert(&cur[len(cur)-1])
		}
		bad = "an array holding a " + kind(d.peek())
		return d.skip()
	})
	if len(chunks) == 0 {
		return cur, bad, err
	}
	alerts = make([]Alert, 0, n)
	for _, c := range chunks {
		alerts = append(alerts, c...)
	}
	return append(alerts, cur...), bad, err
}

// decodePage scans a whole Data Export answer.
func decodePage(b []byte) (*pageEnvelope, []string, error) {
	d := &pageDecoder{b: b}
	env := &pageEnvelope{}
	if c := d.peek(); c != '{' {
		if c == 0 {
			return nil, nil, fmt.Errorf("%w: the page is empty", ErrBadAnswer)
		}
		if err := d.skip(); err != nil {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("%w: the page is a JSON %s, want an object", ErrBadAnswer, kind(c))
	}
	var resultBad string
	err := d.object(func(key []byte) error {
		var err error
		switch string(key) {
		case "ok":
			env.OK, err = d.rawValue()
		case "result":
			env.Result, resultBad, err = d.alerts()
		case "wait_time":
			err = d.num(&env.WaitTime, "wait_time")
		case "timestamp_hwm":
			err = d.num(&env.TimestampHWM, "timestamp_hwm")
		case "message":
			env.Message, err = d.rawValue()
		case "error":
			env.Error, err = d.rawValue()
		case "error_msg":
			env.ErrorMsg, err = d.rawValue()
		default:
			err = d.skip()
		}
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if d.peek(); d.i < len(d.b) { // not peek() != 0: a NUL byte is not the end
		return nil, nil, d.syntax("the end of the page")
	}
	if resultBad != "" {
		return nil, nil, fmt.Errorf("%w: \"result\" is %s, want an array of alert objects", ErrBadAnswer, resultBad)
	}
	if math.IsNaN(env.WaitTime) {
		env.WaitTime = 0
	}
	return env, d.problems, nil
}
