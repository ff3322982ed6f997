package main

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"
	"unicode"
)

// JSON output has one key style whatever type it comes from: every --json
// document is built by jsonValue, which names struct fields in lower camel case
// (LastRun → lastRun, ID → id) unless a json tag names them, and leaves out what
// is unset: zero times, nil pointers, empty strings, maps and slices. Numbers
// stay numbers, durations are Go duration strings ("1h30m0s"), and types with a
// text form (ioc.Type, cte.Mode, a ledger state) are written as that text.
// README.md documents the shapes; json_test.go checks them.

// jsonObject is a JSON object that keeps its keys in struct field order.
type jsonObject []jsonField

type jsonField struct {
	key   string
	value any
}

// MarshalJSON writes the fields in order.
func (o jsonObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.key)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(f.value)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

var (
	timeType     = reflect.TypeFor[time.Time]()
	durationType = reflect.TypeFor[time.Duration]()
	textMarshal  = reflect.TypeFor[encoding.TextMarshaler]()
	jsonMarshal  = reflect.TypeFor[json.Marshaler]()
	stringerType = reflect.TypeFor[fmt.Stringer]()
)

// jsonValue converts v to the value --json writes.
func jsonValue(v any) any {
	return convert(reflect.ValueOf(v))
}

func convert(v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	t := v.Type()
	switch {
	case t == timeType:
		return v.Interface().(time.Time).UTC()
	case t == durationType:
		return v.Interface().(time.Duration).String()
	case t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface && (t.Implements(jsonMarshal) || t.Implements(textMarshal)):
		return v.Interface()
	case t.Kind() != reflect.Struct && t.Kind() != reflect.String && t.PkgPath() != "" && t.Implements(stringerType):
		return v.Interface().(fmt.Stringer).String()
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return convert(v.Elem())
	case reflect.Struct:
		var o jsonObject
		addFields(&o, v)
		return o
	case reflect.Map:
		out := make(map[string]any, v.Len())
		for it := v.MapRange(); it.Next(); {
			out[mapKey(it.Key())] = convert(it.Value())
		}
		return out
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return v.Interface()
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = convert(v.Index(i))
		}
		return out
	}
	return v.Interface()
}

// addFields appends the exported fields of struct v to o, flattening embedded
// structs.
func addFields(o *jsonObject, v reflect.Value) {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		fv := v.Field(i)
		key := lowerCamel(sf.Name)
		if tag, ok := sf.Tag.Lookup("json"); ok {
			name, opts, _ := strings.Cut(tag, ",")
			if name == "-" || (strings.Contains(opts, "omit") && fv.IsZero()) {
				continue
			}
			if name != "" {
				key = name
			}
		} else if sf.Anonymous && fv.Kind() == reflect.Struct && sf.Type != timeType {
			addFields(o, fv)
			continue
		}
		if unset(fv) {
			continue
		}
		*o = append(*o, jsonField{key, convert(fv)})
	}
}

// unset reports whether a field is left out: a zero time, a nil pointer, an
// empty string, map or slice.
func unset(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.String, reflect.Map, reflect.Slice:
		return v.Len() == 0
	case reflect.Pointer, reflect.Interface:
		return v.IsNil()
	case reflect.Struct:
		return v.Type() == timeType && v.Interface().(time.Time).IsZero()
	}
	// a zero enum with no text form is unset (a target mode not known yet)
	if tm, ok := v.Interface().(encoding.TextMarshaler); ok && v.IsZero() {
		_, err := tm.MarshalText()
		return err != nil
	}
	return false
}

func mapKey(k reflect.Value) string {
	if tm, ok := k.Interface().(encoding.TextMarshaler); ok {
		if b, err := tm.MarshalText(); err == nil {
			return string(b)
		}
	}
	if k.Kind() == reflect.String {
		return k.String()
	}
	return fmt.Sprint(k.Interface())
}

// lowerCamel turns a Go field name into a JSON key the way the console's API
// spells its keys: LastRun → lastRun, ID → id, URLList → urlList, and an
// initialism after the first word is one word: LastOK → lastOk, RequestID →
// requestId.
func lowerCamel(s string) string {
	r := []rune(s)
	n := 0
	for n < len(r) && unicode.IsUpper(r[n]) {
		n++
	}
	switch {
	case n == 0:
		return s
	case n == 1 || n == len(r):
		// Foo → foo; ID → id
	default:
		n-- // URLList: the last capital starts the next word
	}
	for i := range n {
		r[i] = unicode.ToLower(r[i])
	}
	// A run of capitals later on: keep its first, lower the rest up to the
	// capital that starts the next word (or the end).
	for i := max(n, 1); i < len(r); i++ {
		if !unicode.IsUpper(r[i]) {
			continue
		}
		j := i + 1
		for j < len(r) && unicode.IsUpper(r[j]) {
			j++
		}
		end := j
		if j < len(r) { // the last capital of the run starts a word: OKValue
			end = j - 1
		}
		for k := i + 1; k < end; k++ {
			r[k] = unicode.ToLower(r[k])
		}
		i = j - 1
	}
	return string(r)
}
