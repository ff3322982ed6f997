package mimecast

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ctexchange/cte/ioc"
	"github.com/ctexchange/cte/mimecast/mimecasttest"
)

const stixSample = `{"type":"bundle","id":"bundle--0ea0ae62-5d43-4ec5-babc-1fc4479e03ba","spec_version":"2.0","objects":[
 {"type":"malware","id":"malware--6561","created":"2021-10-29T15:07:26.653Z","modified":"2021-10-29T15:07:26.653Z","name":"Business Proposal_Final","labels":["virus"]},
 {"type":"indicator","id":"indicator--18c6","created":"2021-10-29T15:07:26.653Z","modified":"2021-10-29T15:07:26.653Z","labels":["malicious-activity"],
  "pattern":"[file:hashes.'SHA-256' = 'C20D551424F2DF6312F7FA700ED97CD199C3D5C8A0F4DFD683627F18913096DE']","valid_from":"2021-10-29T15:07:26.653Z"},
 {"type":"indicator","id":"indicator--9","created":"2021-10-29T16:00:00Z","pattern":"[file:hashes.MD5 = '44d88612fea8a8f36de82e1278abb02f' OR file:hashes.'SHA-1' = 'ab']"},
 {"type":"indicator","id":"indicator--bad","created":"2021-10-29T16:00:00Z","pattern":"[file:hashes.MD5 = 'zz']"},
 {"type":"indicator","id":"indicator--ip","pattern":"[ipv4-addr:value = '1.2.3.4']"},
 {"type":"relationship","id":"relationship--4505","relationship_type":"indicates","source_ref":"indicator--18c6","target_ref":"malware--6561"}]}`

func TestParseSTIX(t *testing.T) {
	t.Parallel()
	res, err := parserBoth().parseSTIX([]byte(stixSample))
	require.NoError(t, err)
	require.Len(t, res.indicators, 2)
	first := res.indicators[0]
	assert.Equal(t, ioc.TypeSHA256, first.Type)
	assert.Equal(t, "c20d551424f2df6312f7fa700ed97cd199c3d5c8a0f4dfd683627f18913096de", first.Value)
	assert.Equal(t, "Malware: Business Proposal_Final", first.Comments)
	assert.True(t, first.FirstSeen.Equal(time.Date(2021, 10, 29, 15, 7, 26, 653_000_000, time.UTC)))
	assert.Equal(t, md5A, res.indicators[1].Value)
	assert.True(t, res.newest.Equal(time.Date(2021, 10, 29, 16, 0, 0, 0, time.UTC)))
	assert.Equal(t, 4, res.rows)
	assert.Equal(t, 2, res.invalid.total(), "the bad md5 and the pattern without a hash")

	for _, bad := range []string{`[]`, `{"type":"indicator"}`, `{"type":"bundle","objects":{}}`} {
		_, err := parserBoth().parseSTIX([]byte(bad))
		assert.ErrorIs(t, err, ErrProtocol, bad)
	}
}

func TestPullSTIXFromTheFake(t *testing.T) {
	t.Parallel()
	s := mimecasttest.NewServer(t, mimecasttest.WithFeed(FeedMalwareCustomer, 120), mimecasttest.WithFeed(FeedMalwareGrid, 0), mimecasttest.WithFeedPageSize(50))
	cfg := hmacConfig(s)
	cfg.FileType = FileSTIX
	stixPages, err := pullAll(t, newTestPlugin(t, s, cfg, time.Now), nil)
	require.NoError(t, err)
	cfg.FileType = ""
	csvPages, err := pullAll(t, newTestPlugin(t, s, cfg, time.Now), nil)
	require.NoError(t, err)
	assert.Equal(t, len(values(csvPages)), len(values(stixPages)), "the same hashes in both formats")
	for k := range values(csvPages) {
		assert.Contains(t, values(stixPages), k)
	}
	assert.Equal(t, "stix", requestBodies(t, s, mimecasttest.PathGetFeed)[0]["fileType"])

	s.SetFeedMode(FeedMalwareCustomer, mimecasttest.FeedJSONFail)
	cfg.FileType = FileSTIX
	_, err = pullAll(t, newTestPlugin(t, s, cfg, time.Now), nil)
	var e *Error
	require.ErrorAs(t, err, &e, "a fail envelope is not taken for a bundle")
}

func FuzzSTIX(f *testing.F) {
	f.Add([]byte(stixSample))
	f.Add([]byte(`{"type":"bundle","objects":[{"type":"indicator","pattern":"[file:hashes.'SHA-256' = '`))
	f.Add([]byte(`{"type":"bundle","objects":[{"type":"indicator","pattern":"file:hashes.MD5='x' file:hashes.MD5 = '"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := parserBoth().parseSTIX(body)
		if err != nil {
			return
		}
		for _, in := range res.indicators {
			if v, err := ioc.Parse(in.Type, in.Value); err != nil || v != in.Value {
				t.Fatalf("indicator %q of type %s is not normal: %v", in.Value, in.Type, err)
			}
		}
	})
}
