package ioc_test

import (
	"fmt"

	"github.com/ctexchange/cte/ioc"
)

func ExampleParse() {
	v, _ := ioc.Parse(ioc.TypeURL, "HTTPS://Bücher.Example:443/a?b=1#top")
	fmt.Println(v)
	_, err := ioc.Parse(ioc.TypeSHA256, "null")
	fmt.Println(err)
	// Output:
	// https://xn--bcher-kva.example/a?b=1
	// ioc: sha256 "null": want 64 hex digits, got 4 characters
}

func ExampleDetect() {
	for _, raw := range []string{"44D88612FEA8A8F36DE82E1278ABB02F", "::ffff:203.0.113.7", "evil.example.com"} {
		t, ok := ioc.Detect(raw)
		fmt.Println(t, ok)
	}
	// Output:
	// md5 true
	// ipv4 true
	// domain true
}
