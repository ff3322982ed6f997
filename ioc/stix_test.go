package ioc

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSTIXRoundTrip(t *testing.T) {
	t.Parallel()
	t1 := time.Date(2026, 5, 1, 10, 2, 3, 0, time.UTC)
	t2 := t1.Add(48 * time.Hour)
	in := []Indicator{
		{Type: TypeSHA256, Value: "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f", Severity: SeverityHigh, Reputation: 8, Comments: "Sent from bad@evil.example", Tags: []string{"malware_customer"}, FirstSeen: t1, LastSeen: t2, ExpiresAt: t2.Add(time.Hour), Source: "mimecast"},
		{Type: TypeMD5, Value: "44d88612fea8a8f36de82e1278abb02f", Severity: SeverityLow, Reputation: 5, FirstSeen: t1, LastSeen: t1},
		{Type: TypeURL, Value: "http://evil.example.com/it's?a=\\b", Severity: SeverityMedium, Reputation: 5, FirstSeen: t1, LastSeen: t1},
		{Type: TypeDomain, Value: "evil.example.com", Reputation: 5, FirstSeen: t1, LastSeen: t1},
		{Type: TypeIPv4, Value: "203.0.113.7", Reputation: 5, FirstSeen: t1, LastSeen: t1},
		{Type: TypeIPv6, Value: "2001:db8::7", Reputation: 5, FirstSeen: t1, LastSeen: t1},
	}
	var buf bytes.Buffer
	require.NoError(t, WriteSTIX(&buf, in, t2))
	assert.Contains(t, buf.String(), `"spec_version": "2.1"`)
	assert.Contains(t, buf.String(), `"pattern": "[file:hashes.'SHA-256' = '275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f']"`)
	assert.Contains(t, buf.String(), `"id": "`+STIXID(TypeMD5, "44d88612fea8a8f36de82e1278abb02f")+`"`)
	res, err := ReadSTIX(&buf, 1<<20)
	require.NoError(t, err)
	assert.Empty(t, res.Skipped)
	assert.Equal(t, in[0], res.Indicators[0])
	require.Len(t, res.Indicators, len(in))
	for i := range in {
		assert.Equal(t, in[i].Type, res.Indicators[i].Type)
		assert.Equal(t, in[i].Value, res.Indicators[i].Value)
	}
	assert.Equal(t, STIXID(TypeMD5, "44d88612fea8a8f36de82e1278abb02f"), STIXID(TypeMD5, "44d88612fea8a8f36de82e1278abb02f"), "ids are stable")
}

// A STIX 2.0 bundle as Mimecast's get-feed sends it, plus patterns cte must not
// misread.
func TestReadSTIXForeignBundle(t *testing.T) {
	t.Parallel()
	bundle := `{"type":"bundle","id":"bundle--0ea0ae62","spec_version":"2.0","objects":[
 {"type":"malware","id":"malware--6561","name":"Business Proposal_Final","labels":["virus"]},
 {"type":"indicator","id":"indicator--18c6","created":"2021-10-29T15:07:26.653Z","modified":"2021-10-29T15:07:26.653Z","labels":["malicious-activity"],
  "pattern":"[file:hashes.'SHA-256' = 'C20D551424F2DF6312F7FA700ED97CD199C3D5C8A0F4DFD683627F18913096DE']","valid_from":"2021-10-29T15:07:26.653Z"},
 {"type":"indicator","id":"indicator--2","pattern":"[file:hashes.MD5 = '44d88612fea8a8f36de82e1278abb02f' OR file:hashes.SHA1 = 'aaaa'] AND [url:value != 'http://x.example/']"},
 {"type":"indicator","id":"indicator--3","pattern":"[ipv4-addr:value = '::ffff:198.51.100.1' OR domain-name:value = 'Evil.Example.']"},
 {"type":"indicator","id":"indicator--4","pattern_type":"sigma","pattern":"title: x"},
 {"type":"indicator","id":"indicator--5","pattern":"[file:size = 5]"},
 {"type":"indicator","id":"indicator--6","pattern":"[file:hashes.MD5 = 'not-a-hash']"},
 {"type":"relationship","id":"relationship--1","relationship_type":"indicates","source_ref":"indicator--18c6","target_ref":"malware--6561"}]}`
	res, err := ReadSTIX(strings.NewReader(bundle), 1<<20)
	require.NoError(t, err)
	var got []string
	for _, ind := range res.Indicators {
		got = append(got, ind.Type.String()+" "+ind.Value)
	}
	assert.Equal(t, []string{
		"sha256 c20d551424f2df6312f7fa700ed97cd199c3d5c8a0f4dfd683627f18913096de",
		"md5 44d88612fea8a8f36de82e1278abb02f",
		"ipv4 198.51.100.1",
		"domain evil.example",
	}, got)
	assert.Equal(t, time.Date(2021, 10, 29, 15, 7, 26, 653e6, time.UTC), res.Indicators[0].FirstSeen)
	assert.Equal(t, []string{"malicious-activity"}, res.Indicators[0].Tags)
	assert.Equal(t, map[string]int{
		"object path file:hashes.SHA1":      1,
		"pattern type sigma":                1,
		"pattern compares nothing cte maps": 1,
		"invalid md5":                       1,
	}, res.Skipped)
}

func TestReadSTIXErrors(t *testing.T) {
	t.Parallel()
	_, err := ReadSTIX(strings.NewReader(`{"type":"indicator"}`), 1<<20)
	assert.ErrorIs(t, err, ErrSTIX)
	assert.ErrorContains(t, err, `type is "indicator", want bundle`)
	_, err = ReadSTIX(strings.NewReader(`[1]`), 1<<20)
	assert.ErrorIs(t, err, ErrSTIX)
	_, err = ReadSTIX(strings.NewReader(`{"type":"bundle","objects":[]}`+strings.Repeat(" ", 100)), 50)
	assert.ErrorContains(t, err, "larger than 50 bytes")
	var buf bytes.Buffer
	assert.Error(t, WriteSTIX(&buf, []Indicator{{Type: 0, Value: "x"}}, time.Now()))
}

func TestPatternComparisons(t *testing.T) {
	t.Parallel()
	cases := map[string][]Comparison{
		`[url:value = 'http://a.example/it\'s']`:                       {{"url:value", "http://a.example/it's"}},
		`([file:hashes.'SHA-256' = 'ab'] OR [file:hashes."MD5"='cd'])`: {{"file:hashes.'SHA-256'", "ab"}, {`file:hashes."MD5"`, "cd"}},
		`[url:value LIKE 'http://%']`:                                  nil,
		`[file:size > 5 AND file:name = 'x.exe']`:                      {{"file:name", "x.exe"}},
		`[url:value = 'unterminated`:                                   nil,
		``:                                                             nil,
	}
	for p, want := range cases {
		assert.Equal(t, want, PatternComparisons(p), p)
	}
}

func FuzzReadSTIX(f *testing.F) {
	f.Add(`{"type":"bundle","objects":[{"type":"indicator","pattern":"[file:hashes.MD5 = '44d88612fea8a8f36de82e1278abb02f']"}]}`)
	f.Add(`{"type":"bundle","objects":[{"type":"indicator","pattern":"[url:value = 'http://a.example/\\'x']","confidence":101,"valid_from":"2021-10-29T15:07:26Z"}]}`)
	f.Add(`{"type":"bundle","objects":[{"type":"indicator","pattern":"[ipv4-addr:value = '1.2.3.4' OR domain-name:value = 'x.example']"}]}`)
	f.Fuzz(func(t *testing.T, s string) {
		res, err := ReadSTIX(strings.NewReader(s), 1<<20)
		if err != nil {
			return
		}
		for _, ind := range res.Indicators {
			v, err := Parse(ind.Type, ind.Value)
			if err != nil || v != ind.Value {
				t.Fatalf("ReadSTIX gave %s %q, not in normal form (%v)", ind.Type, ind.Value, err)
			}
			if r := ind.Rep(); r < 1 || r > 10 {
				t.Fatalf("reputation %d out of range", r)
			}
		}
		// What was read writes and reads back the same.
		var buf bytes.Buffer
		if err := WriteSTIX(&buf, res.Indicators, time.Unix(0, 0)); err != nil {
			t.Fatal(err)
		}
		back, err := ReadSTIX(&buf, 1<<30)
		if err != nil || len(back.Indicators) != len(res.Indicators) {
			t.Fatalf("round trip: %d indicators, %v; want %d", len(back.Indicators), err, len(res.Indicators))
		}
		for i := range back.Indicators {
			if back.Indicators[i].Value != res.Indicators[i].Value || back.Indicators[i].Type != res.Indicators[i].Type {
				t.Fatalf("round trip changed %v into %v", res.Indicators[i], back.Indicators[i])
			}
		}
	})
}

func FuzzPatternComparisons(f *testing.F) {
	f.Add("http://a.example/it's\\x")
	f.Add("")
	f.Fuzz(func(t *testing.T, v string) {
		for _, typ := range Types() {
			p, err := patternOf(typ, v)
			if err != nil {
				t.Fatal(err)
			}
			got := PatternComparisons(p)
			if len(got) != 1 || got[0].Value != v {
				t.Fatalf("pattern %q gave %v, want the value %q back", p, got, v)
			}
		}
	})
}
