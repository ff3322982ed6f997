package netskope

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// specPage is a Data Export alerts page in the tenant's documented shape: a
// malware alert whose reported and local hashes differ in what they fill in, and
// a malsite alert with a scheme-less URL and a category list.
const specPage = `{"ok":1,"wait_time":0,"timestamp_hwm":1716200500,"result":[
 {"_id":"a1","alert_type":"Malware","severity":"high","timestamp":1716200400,
  "object":"invoice.exe","malware_name":"Gen.Trojan","malware_type":"Trojan",
  "md5":"e28eb9739b6e84d0f796e3acc0f5b71e","local_md5":"e28eb9739b6e84d0f796e3acc0f5b71e",
  "sha256":"", "local_sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
 {"_id":"b2","alert_type":"malsite","severity":"medium","timestamp":1716200450,
  "url":"evil.example.com/dl","malsite_category":["Phishing","Botnet"]}]}`

func TestDecodeAlertPageSpecExample(t *testing.T) {
	t.Parallel()
	p, err := DecodeAlertPage([]byte(specPage))
	require.NoError(t, err)
	assert.Equal(t, int64(1716200500), p.TimestampHWM)
	assert.Zero(t, p.WaitTime)
	assert.Empty(t, p.Problems)
	require.Len(t, p.Alerts, 2)
	assert.Equal(t, Alert{ID: "a1", AlertType: "Malware", Severity: "high", Timestamp: 1716200400, Object: "invoice.exe",
		MalwareName: "Gen.Trojan", MalwareType: "Trojan", MD5: "e28eb9739b6e84d0f796e3acc0f5b71e",
		LocalMD5: "e28eb9739b6e84d0f796e3acc0f5b71e", LocalSHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}, p.Alerts[0])
	assert.Equal(t, Alert{ID: "b2", AlertType: "malsite", Severity: "medium", Timestamp: 1716200450, URL: "evil.example.com/dl",
		MalsiteCategory: Categories{"Phishing", "Botnet"}}, p.Alerts[1])
}

func TestDecodeAlertPageLenient(t *testing.T) {
	t.Parallel()
	p, err := DecodeAlertPage([]byte(`{"ok":true,"wait_time":"7","timestamp_hwm":1.7e9,"result":[null,
		{"md5":123,"sha256":null,"timestamp":"1716200400","malsite_category":"Phishing","url":"h\u00e9.example",
		 "nested":{"a":[1,{"b":"c"}],"d":"\\\""},"severity":["x"]},
		{"malsite_category":[1,"Botnet",null]}]}`))
	require.NoError(t, err)
	require.Len(t, p.Alerts, 2)
	assert.Equal(t, 7*time.Second, p.WaitTime)
	assert.Equal(t, int64(1700000000), p.TimestampHWM)
	assert.Equal(t, "", p.Alerts[0].MD5)
	assert.Equal(t, float64(1716200400), p.Alerts[0].Timestamp)
	assert.Equal(t, Categories{"Phishing"}, p.Alerts[0].MalsiteCategory)
	assert.Equal(t, "hé.example", p.Alerts[0].URL)
	assert.Equal(t, Categories{"Botnet"}, p.Alerts[1].MalsiteCategory)
	assert.Len(t, p.Problems, 4) // md5 number, severity array, two category elements
	assert.Contains(t, strings.Join(p.Problems, "\n"), "result.md5: got a JSON number")
}

func TestDecodeAlertPageWaitTimeCapped(t *testing.T) {
	t.Parallel()
	p, err := DecodeAlertPage([]byte(`{"ok":1,"result":[],"wait_time":1e300}`))
	require.NoError(t, err)
	assert.Equal(t, maxWaitTime, p.WaitTime)
	p, err = DecodeAlertPage([]byte(`{"ok":1,"result":[],"wait_time":-5,"timestamp_hwm":-1}`))
	require.NoError(t, err)
	assert.Zero(t, p.WaitTime)
	assert.Zero(t, p.TimestampHWM)
}

func TestDecodeAlertPageErrors(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		``:                                "empty",
		`   `:                             "empty",
		`[]`:                              "JSON array, want an object",
		`"ok"`:                            "JSON string, want an object",
		`{"ok":0,"message":"index busy"}`: "ok=0: index busy",
		`{"ok":1,"result":{}}`:            `"result" is a object`,
		`{"ok":1,"result":[1]}`:           "an array holding a number",
		`{"result":[]}`:                   `no "ok" field`,
		`{"ok":1,"result":[}`:             "not valid JSON",
		`{"ok":1,"result":[]} x`:          "the end of the page",
		`{"ok":1,"result":[{"a":tru}]}`:   "true",
		"{\"ok\":1,\"result\":[{\"a\":\"\x01\"}]}": "control character",
		`{"ok":1,"result":[{"a":"\q"}]}`:           "valid escape",
		`{"ok":1,"result":[{"a":"\u12"}]}`:         `\u and four hex digits`,
		`{"ok":1,"result":[{"a":01}]}`:             "',' or '}'",
		`{"ok":1,"result":[{"a":1.}]}`:             "decimal point",
		`{"ok":1,"result":[{"a":1e}]}`:             "exponent",
		`{"ok":1,"result":[{"a":-}]}`:              "a digit",
		`{"ok":1,"result":[{"a" 1}]}`:              "':'",
		`{"ok":1,"result":[{1:1}]}`:                "a key",
		`{"ok":1,"result":["unterminated]}`:        "end of a string",
		`<html>maintenance</html>`:                 "not valid JSON",
		`{"ok":1,"result":[` + deep(20000) + `]}`:  "less nesting",
	}
	for in, want := range cases {
		_, err := DecodeAlertPage([]byte(in))
		if assert.Error(t, err, in) {
			assert.ErrorIs(t, err, ErrBadAnswer, in)
			assert.Contains(t, err.Error(), want, in)
		}
	}
}

func deep(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }

func TestDecodeAlertPageMatchesReferenceOnBenchPage(t *testing.T) {
	t.Parallel()
	b := benchPage(50)
	got, err := DecodeAlertPage(b)
	require.NoError(t, err)
	want, err := referenceDecode(b)
	require.NoError(t, err)
	assert.Equal(t, want.Alerts, got.Alerts)
	assert.Len(t, got.Alerts, 50)
}

// referenceDecode is the page decoder's specification, written with encoding/json:
// exact keys, the last of duplicate keys wins, fields of the wrong type read as empty.
func referenceDecode(b []byte) (*AlertPage, error) {
	if !json.Valid(b) {
		return nil, errors.New("invalid JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	top, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("not an object")
	}
	switch ok := top["ok"].(type) {
	case json.Number:
		if ok != "1" {
			return nil, errors.New("ok is not 1")
		}
	case bool:
		if !ok {
			return nil, errors.New("ok is false")
		}
	default:
		return nil, errors.New("no ok")
	}
	problems := 0
	str := func(m map[string]any, k string) string {
		switch x := m[k].(type) {
		case string:
			return x
		case nil:
			return ""
		}
		problems++
		return ""
	}
	num := func(m map[string]any, k string) float64 {
		switch x := m[k].(type) {
		case json.Number:
			f, _ := strconv.ParseFloat(string(x), 64)
			return f
		case string:
			f, err := strconv.ParseFloat(x, 64)
			if err != nil && !errors.Is(err, strconv.ErrRange) {
				problems++
				return 0
			}
			return f
		case nil:
			return 0
		}
		problems++
		return 0
	}
	p := &AlertPage{}
	switch r := top["result"].(type) {
	case nil:
	case []any:
		for _, e := range r {
			switch m := e.(type) {
			case nil:
				continue
			case map[string]any:
				a := Alert{ID: str(m, "_id"), AlertType: str(m, "alert_type"), Severity: str(m, "severity"),
					Timestamp: num(m, "timestamp"), Object: str(m, "object"), MalwareName: str(m, "malware_name"),
					MalwareType: str(m, "malware_type"), MD5: str(m, "md5"), LocalMD5: str(m, "local_md5"),
					SHA256: str(m, "sha256"), LocalSHA256: str(m, "local_sha256"), URL: str(m, "url")}
				switch c := m["malsite_category"].(type) {
				case string:
					a.MalsiteCategory = Categories{c}
				case []any:
					for _, x := range c {
						if s, ok := x.(string); ok {
							a.MalsiteCategory = append(a.MalsiteCategory, s)
						} else {
							problems++
						}
					}
				case nil:
				default:
					problems++
				}
				p.Alerts = append(p.Alerts, a)
			default:
				return nil, errors.New("result element is not an object")
			}
		}
	default:
		return nil, errors.New("result is not an array")
	}
	w := num(top, "wait_time")
	if w > 0 {
		p.WaitTime = maxWaitTime
		if w < maxWaitTime.Seconds() {
			p.WaitTime = time.Duration(w * float64(time.Second))
		}
	}
	if h := num(top, "timestamp_hwm"); h > 0 && h < 1<<53 {
		p.TimestampHWM = int64(h)
	}
	if problems > 0 {
		p.Problems = make([]string, problems)
	}
	return p, nil
}

func FuzzDecodeAlertPage(f *testing.F) {
	f.Add([]byte(specPage))
	f.Add(benchPage(3))
	f.Add([]byte(`{"ok":1,"result":[null,{"md5":123,"timestamp":"17","malsite_category":"x"}],"wait_time":2}`))
	f.Add([]byte(`{"ok":1,"result":[{"\u006dd5":"abc","md5":null,"url":"\ud83d\ude00","x":[{"y":[true,false,null,-1.5e-3]}]}]}`))
	f.Add([]byte(`{"ok":1,"result":[],"result":{},"result":[]}`))
	f.Add([]byte(`{"ok":0,"message":["busy"]}`))
	f.Add([]byte("{\"ok\":1,\"result\":[{\"url\":\"\xff\xfe\"}]}"))
	f.Add([]byte(`{"ok":1,"result":[{"timestamp":123456789012345678901234567890,"malsite_category":[1,"a"]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := DecodeAlertPage(b)
		want, werr := referenceDecode(b)
		if !json.Valid(b) {
			if err == nil {
				t.Fatalf("invalid JSON %q decoded without error", b)
			}
			return
		}
		if (err == nil) != (werr == nil) {
			t.Fatalf("decoder error %v, reference error %v, input %q", err, werr, b)
		}
		if err != nil {
			if !errors.Is(err, ErrBadAnswer) {
				t.Fatalf("error %v does not wrap ErrBadAnswer", err)
			}
			return
		}
		if len(got.Alerts) != len(want.Alerts) {
			t.Fatalf("%d alerts, reference %d, input %q", len(got.Alerts), len(want.Alerts), b)
		}
		for i := range got.Alerts {
			g, w := got.Alerts[i], want.Alerts[i]
			if math.IsNaN(g.Timestamp) || g.Timestamp != w.Timestamp && !(math.IsInf(g.Timestamp, 0) && math.IsInf(w.Timestamp, 0)) {
				t.Fatalf("alert %d timestamp %v, reference %v", i, g.Timestamp, w.Timestamp)
			}
			g.Timestamp, w.Timestamp = 0, 0
			if len(g.MalsiteCategory) == 0 && len(w.MalsiteCategory) == 0 {
				g.MalsiteCategory, w.MalsiteCategory = nil, nil
			}
			assert.Equal(t, w, g, "alert %d of %q", i, b)
		}
		if got.WaitTime != want.WaitTime || got.TimestampHWM != want.TimestampHWM {
			t.Fatalf("wait %v hwm %d, reference %v %d", got.WaitTime, got.TimestampHWM, want.WaitTime, want.TimestampHWM)
		}
		// A value overwritten by a duplicate key may leave a problem the reference
		// (last key wins) does not see; a problem the reference sees is never missed.
		if len(want.Problems) > 0 && len(got.Problems) == 0 {
			t.Fatalf("problems %q, reference counted %d, input %q", got.Problems, len(want.Problems), b)
		}
	})
}

func TestSpecialWord(t *testing.T) {
	t.Parallel()
	check := func(w [8]byte) {
		want := false
		for _, c := range w {
			want = want || special[c]
		}
		x := uint64(0)
		for i := 7; i >= 0; i-- {
			x = x<<8 | uint64(w[i])
		}
		if got := specialWord(x); got != want {
			t.Fatalf("specialWord(%q) = %v, want %v", w[:], got, want)
		}
	}
	for pos := range 8 {
		for c := range 256 {
			w := [8]byte{'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a'}
			w[pos] = byte(c)
			check(w)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		var w [8]byte
		for i := range w {
			w[i] = byte(0x20 + r.IntN(0x60)) // mostly plain ASCII, sometimes '"' or '\\'
			if r.IntN(40) == 0 {
				w[i] = byte(r.IntN(256))
			}
		}
		check(w)
	}
}
