package ioc

import "testing"

var sink string

func BenchmarkParseSHA256Normal(b *testing.B) {
	v := "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
	b.ReportAllocs()
	for b.Loop() {
		sink, _ = Parse(TypeSHA256, v)
	}
}

func BenchmarkParseSHA256Upper(b *testing.B) {
	v := "275A021BBFB6489E54D471899F7DB9D1663FC695EC2FE2A2C4538AABF651FD0F"
	b.ReportAllocs()
	for b.Loop() {
		sink, _ = Parse(TypeSHA256, v)
	}
}

func BenchmarkParseMD5Normal(b *testing.B) {
	v := "44d88612fea8a8f36de82e1278abb02f"
	b.ReportAllocs()
	for b.Loop() {
		sink, _ = Parse(TypeMD5, v)
	}
}

func BenchmarkParseDomainNormal(b *testing.B) {
	v := "c2.evil.example.com"
	b.ReportAllocs()
	for b.Loop() {
		sink, _ = Parse(TypeDomain, v)
	}
}

func BenchmarkParseIPv4Normal(b *testing.B) {
	v := "203.0.113.7"
	b.ReportAllocs()
	for b.Loop() {
		sink, _ = Parse(TypeIPv4, v)
	}
}

func BenchmarkParseURL(b *testing.B) {
	v := "https://evil.example.com/path/to/payload.exe?x=1"
	b.ReportAllocs()
	for b.Loop() {
		sink, _ = Parse(TypeURL, v)
	}
}

func BenchmarkDetect(b *testing.B) {
	v := "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
	b.ReportAllocs()
	for b.Loop() {
		t, _ := Detect(v)
		sink = t.String()
	}
}
