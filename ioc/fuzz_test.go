package ioc

import (
	"testing"
)

var seeds = []string{
	"", " ", "null", "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
	"44D88612FEA8A8F36DE82E1278ABB02F", "Evil.Example.COM.", "bücher.example", "xn--bcher-kva.example",
	"203.0.113.7", "::ffff:203.0.113.7", "2001:DB8::7", "fe80::1%eth0", "HTTP://Evil.Example.COM:80/a/b?x=1#f",
	"http://[2001:db8::1]:8080/x", "https://x.example/%zz", "http://a.example/a%2Fb", "javascript:alert(1)",
	"http://ex ample.com", "http://x.example/?q=a b", "http://user:pw@x.example/", "http://x.example:0/",
}

// FuzzParse checks that Parse never panics, that its output is a fixed point (a
// valid output re-parses to itself) and that normalising twice changes nothing.
func FuzzParse(f *testing.F) {
	for _, s := range seeds {
		for _, t := range Types() {
			f.Add(uint8(t), s)
		}
	}
	f.Fuzz(func(t *testing.T, typ uint8, raw string) {
		ty := Type(typ%7 + 1)
		out, err := Parse(ty, raw)
		if err != nil {
			if out != "" {
				t.Fatalf("Parse(%s, %q) returned %q with error %v", ty, raw, out, err)
			}
			return
		}
		again, err := Parse(ty, out)
		if err != nil {
			t.Fatalf("Parse(%s, %q) = %q, which does not re-parse: %v", ty, raw, out, err)
		}
		if again != out {
			t.Fatalf("Parse(%s, %q) = %q, re-parsed to %q", ty, raw, out, again)
		}
	})
}

// FuzzDetect checks that a detected type parses, and that the parsed value is
// detected as the same type.
func FuzzDetect(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		ty, ok := Detect(raw)
		if !ok {
			return
		}
		out, err := Parse(ty, raw)
		if err != nil {
			t.Fatalf("Detect(%q) = %s, but Parse fails: %v", raw, ty, err)
		}
		ty2, ok := Detect(out)
		if !ok || ty2 != ty {
			t.Fatalf("Detect(%q) = %s, but its normal form %q is detected as %s, %v", raw, ty, out, ty2, ok)
		}
	})
}

// FuzzIsNormal checks that IsNormal(t, v) holds exactly when Parse(t, v)
// returns v, and that AppendHash gives what Parse gives, error and all.
func FuzzIsNormal(f *testing.F) {
	for _, s := range seeds {
		for _, t := range Types() {
			f.Add(uint8(t), s)
		}
	}
	f.Fuzz(func(t *testing.T, typ uint8, raw string) {
		ty := Type(typ%7 + 1)
		out, err := Parse(ty, raw)
		if got, want := IsNormal(ty, raw), err == nil && out == raw; got != want {
			t.Fatalf("IsNormal(%s, %q) = %v; Parse gave %q, %v", ty, raw, got, out, err)
		}
		if ty != TypeSHA256 && ty != TypeMD5 {
			return
		}
		prefix := []byte("row:")
		b, herr := AppendHash(prefix, ty, []byte(raw))
		switch {
		case (herr == nil) != (err == nil):
			t.Fatalf("AppendHash(%s, %q) error %v; Parse error %v", ty, raw, herr, err)
		case err != nil && (herr.Error() != err.Error() || len(b) != len(prefix)):
			t.Fatalf("AppendHash(%s, %q) = %q, %v; want %q, %v", ty, raw, b, herr, prefix, err)
		case err == nil && string(b) != "row:"+out:
			t.Fatalf("AppendHash(%s, %q) = %q; want row:%s", ty, raw, b, out)
		}
	})
}
