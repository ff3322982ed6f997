package netskope

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ctexchange/cte/ioc"
)

// benchPage returns a Data Export page of n alerts shaped like real tenant output
// (about 1.2 KB each, most fields unread): malware alerts with local and remote
// hashes, some equal, some different, some upper-case.
func benchPage(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"ok":1,"wait_time":0,"timestamp_hwm":1716300000,"result":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		s := sha256.Sum256([]byte(fmt.Sprint(i)))
		sha := hex.EncodeToString(s[:])
		md5 := sha[:32]
		local := sha
		if i%3 == 0 {
			local = strings.ToUpper(sha)
		}
		remote := sha
		if i%5 == 0 {
			t := sha256.Sum256([]byte(fmt.Sprint("r", i)))
			remote = hex.EncodeToString(t[:])
		}
		fmt.Fprintf(&b, `{"_id":"%024x","_insertion_epoch_timestamp":%d,"access_method":"Client","acked":"false","action":"block",`+
			`"activity":"Download","alert":"yes","alert_type":"Malware","app":"Google Drive","appcategory":"Cloud Storage",`+
			`"browser":"Chrome","category":"Cloud Storage","cci":81,"ccl":"high","count":1,"device":"Windows Device",`+
			`"detection_engine":"ATP","dst_country":"US","dst_location":"Mountain View","dstip":"142.250.72.14",`+
			`"file_size":%d,"file_type":"application/x-dosexec","hostname":"LAPTOP-%04d","instance_id":"acme.com",`+
			`"local_md5":"%s","local_sha256":"%s","md5":"%s","sha256":"%s",`+
			`"malware_id":"%x","malware_name":"Gen:Variant.Trojan.%d","malware_profile":"Default Malware Scan",`+
			`"malware_severity":"high","malware_type":"Trojan","object":"invoice-%d.exe","object_type":"File",`+
			`"organization_unit":"Finance","os":"Windows 11","policy":"Block Malware","severity":"high",`+
			`"site":"Google Drive","src_country":"DE","src_location":"Berlin","srcip":"10.1.%d.%d",`+
			`"timestamp":%d,"traffic_type":"CloudApp","type":"nspolicy","ur_normalized":"user%d@acme.com",`+
			`"user":"user%d@acme.com","userkey":"user%d@acme.com","malsite_category":[]}`,
			i, 1716200000+i, 1000+i, i%10000, local[:32], local, md5, remote, i, i%97, i, i%250, i%200, 1716200000+i, i, i, i)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

func BenchmarkAlertDecode(b *testing.B) {
	const n = PageSize
	page := benchPage(n)
	now := time.Unix(1716300000, 0)
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		p, err := DecodeAlertPage(page)
		if err != nil {
			b.Fatal(err)
		}
		x := NewExtractor("https://acme.goskope.com", []ioc.Type{ioc.TypeSHA256, ioc.TypeMD5}, now)
		inds, _ := x.Page(AlertMalware, p.Alerts)
		if len(inds) < n {
			b.Fatalf("%d indicators", len(inds))
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "alerts/s")
	// The same rate per CPU-second of the whole process (GC included), which a busy
	// shared machine does not distort.
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(n)*float64(b.N)/cpu.Seconds(), "alerts/cpu-s")
	}
}
