package netskopetest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/ctexchange/cte/netskope/netskopetest"
)

// A client replaces a file hash list with the REST API v1 and pulls malware alerts
// through the Data Export iterator with the REST API v2.
func Example() {
	now := time.Date(2026, 5, 20, 12, 0, 0, 0, time.UTC)
	s := netskopetest.New(
		netskopetest.WithClock(func() time.Time { return now }),
		netskopetest.WithFileHashList("CE_Malware_Hashes", strings.Repeat("f", 64)),
		netskopetest.WithAlerts(netskopetest.KindMalware, 4),
	)
	defer s.Close()

	// v1: the token travels in the JSON body, never in the URL.
	body, _ := json.Marshal(map[string]string{
		"name":  "CE_Malware_Hashes",
		"list":  "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		"token": s.V1Token(),
	})
	res, err := http.Post(s.URL+netskopetest.PathUpdateFileHashList, "application/json", bytes.NewReader(body))
	if err != nil {
		panic(err)
	}
	answer, _ := io.ReadAll(res.Body)
	res.Body.Close()
	fmt.Println(string(answer))
	fmt.Println(s.FileHashList("CE_Malware_Hashes"))

	// v2: the token travels in the Netskope-Api-Token header.
	req, _ := http.NewRequest(http.MethodGet, s.URL+netskopetest.PathDataExportAlerts+"malware?index=example&operation=head", nil)
	req.Header.Set("Netskope-Api-Token", s.V2Token())
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer res.Body.Close()
	var page struct {
		OK     int              `json:"ok"`
		Result []map[string]any `json:"result"`
		HWM    int64            `json:"timestamp_hwm"`
	}
	if err := json.NewDecoder(res.Body).Decode(&page); err != nil {
		panic(err)
	}
	fmt.Println(page.OK, len(page.Result), time.Unix(page.HWM, 0).UTC())
	for _, a := range page.Result {
		fmt.Printf("%v %v md5=%v local_md5=%v\n", a["alert_type"], a["object"], a["md5"], a["local_md5"])
	}
	fmt.Println(s.TokenInURL())
	// Output:
	// {"msg":"File Filter Profile updated successfully","status":"success"}
	// [9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08]
	// 1 4 2026-05-20 12:00:00 +0000 UTC
	// Malware scan_3180.dll md5=4ff057ec13579559f6489a02d2ece85a local_md5=4ff057ec13579559f6489a02d2ece85a
	// Malware report_3054.xlsm md5=<nil> local_md5=bad3d1f13e4274c57607c4a915c3610c
	// Malware quote_7182.iso md5=e848b75914f57aeac77d18231c64088a local_md5=10d9c8138c2474de42b756e9dac27681
	// Malware quote_1500.pdf md5= local_md5=
	// false
}

// A URL list change is staged until a deploy applies it.
func ExampleServer_URLList() {
	now := time.Date(2026, 5, 20, 12, 0, 0, 0, time.UTC)
	s := netskopetest.New(netskopetest.WithClock(func() time.Time { return now }),
		netskopetest.WithURLList("CE_Malsites", "exact", "cedefaultpush.io"))
	defer s.Close()

	call := func(method, path, body string) {
		req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(body))
		req.Header.Set("Netskope-Api-Token", s.V2Token())
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		fmt.Println(res.StatusCode, string(b))
	}
	call(http.MethodPatch, netskopetest.PathURLList+"/1/append", `{"data":{"urls":["evil.example.com","bad host"],"type":"exact"}}`)
	call(http.MethodPatch, netskopetest.PathURLList+"/1/append", `{"data":{"urls":["evil.example.com"],"type":"exact"}}`)
	l, _ := s.URLList(1)
	fmt.Println(l.URLs, l.Deployed, l.Pending)
	call(http.MethodPost, netskopetest.PathURLListDeploy, "")
	l, _ = s.URLList(1)
	fmt.Println(l.Deployed, l.Pending, s.Deploys())
	// Output:
	// 400 {"message":[["bad host","contains spaces or control characters"]],"statusCode":400}
	// 200 {"data":{"json_version":2,"type":"exact","urls":["cedefaultpush.io","evil.example.com"]},"id":1,"modify_by":"Netskope REST API","modify_time":"2026-05-20 12:00:00","modify_type":"Edited","name":"CE_Malsites","pending":1}
	// [cedefaultpush.io evil.example.com] [cedefaultpush.io] true
	// 200 [{"data":{"json_version":2,"type":"exact","urls":["cedefaultpush.io","evil.example.com"]},"id":1,"modify_by":"Netskope REST API","modify_time":"2026-05-20 12:00:00","modify_type":"Edited","name":"CE_Malsites","pending":0}]
	// [cedefaultpush.io evil.example.com] false 1
}
