package main

import (
	"errors"
	"fmt"
	"strings"
)

// expand replaces ${NAME} with the environment variable NAME, and ${NAME:-default}
// with default when NAME is unset or empty. $${ stands for a literal ${.
func expand(s string, env func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		if i > 0 && s[i-1] == '$' {
			b.WriteString(s[:i-1] + "${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", errors.New("${ without a closing }; write ${NAME}")
		}
		ref := s[i+2 : i+end]
		name, def, hasDef := strings.Cut(ref, ":-")
		if !validEnvName(name) {
			return "", fmt.Errorf("${%s} is not a variable reference; write ${NAME} with letters, digits and _", clipRef(name))
		}
		v, ok := env(name)
		switch {
		case hasDef && v == "":
			v = def
		case !ok:
			return "", fmt.Errorf("environment variable %s is not set; export it, or write ${%s:-} to allow it to be empty", name, name)
		}
		b.WriteString(v)
		s = s[i+end+1:]
	}
}

func clipRef(s string) string {
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return s
}

func validEnvName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
