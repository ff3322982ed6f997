package cte

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Options carries what a host injects into a plugin it opens.
type Options struct {
	// Name is the configuration name the host gives this plugin instance; plugins may
	// use it in messages and to derive stable ids (e.g. the Netskope export index).
	Name       string
	Logger     *slog.Logger     // never nil after applying options
	HTTPClient *http.Client     // base client; plugins copy it, never mutate it
	Clock      func() time.Time // never nil after applying options
}

// Option sets an Options field.
type Option func(*Options)

// WithName sets the configuration name.
func WithName(name string) Option { return func(o *Options) { o.Name = name } }

// WithLogger sets the logger; nil keeps the discarding default.
func WithLogger(l *slog.Logger) Option {
	return func(o *Options) {
		if l != nil {
			o.Logger = l
		}
	}
}

// WithHTTPClient sets the base HTTP client.
func WithHTTPClient(c *http.Client) Option { return func(o *Options) { o.HTTPClient = c } }

// WithClock sets the clock; nil keeps time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *Options) {
		if now != nil {
			o.Clock = now
		}
	}
}

// ApplyOptions returns the Options the given options produce, with defaults: a
// discarding logger and time.Now.
func ApplyOptions(opts ...Option) Options {
	o := Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: time.Now}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return o
}

// Driver is what a plugin package exports through its Driver function.
type Driver struct {
	Name     string
	Manifest Manifest
	// Open builds a plugin from a configuration that the registry has already checked
	// against Manifest and completed with defaults.
	Open func(ctx context.Context, config json.RawMessage, o Options) (Plugin, error)
}

// Registry maps driver names to drivers. The zero value is ready to use and safe for
// concurrent use.
type Registry struct {
	mu      sync.RWMutex
	drivers map[string]Driver
}

// Register adds a driver. It panics on an empty name, a nil Open, an invalid
// manifest or a name already registered: these are programming errors.
func (r *Registry) Register(d Driver) {
	if d.Name == "" {
		panic("cte: Register with an empty driver name")
	}
	if d.Open == nil {
		panic("cte: Register " + d.Name + " with a nil Open")
	}
	if err := d.Manifest.Validate(); err != nil {
		panic(fmt.Sprintf("cte: Register %s: %v", d.Name, err))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.drivers[d.Name]; dup {
		panic("cte: Register called twice for driver " + d.Name)
	}
	if r.drivers == nil {
		r.drivers = map[string]Driver{}
	}
	r.drivers[d.Name] = d
}

// Drivers returns the registered drivers sorted by name.
func (r *Registry) Drivers() []Driver {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Driver, 0, len(r.drivers))
	for _, d := range r.drivers {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b Driver) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Driver returns the driver registered under name.
func (r *Registry) Driver(name string) (Driver, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	d, ok := r.drivers[name]
	return d, ok
}

// Open checks config against the driver's manifest, fills in defaults and opens the
// plugin. An unknown name is an error listing the known ones; a bad configuration
// wraps ErrInvalidConfig and names the field.
func (r *Registry) Open(ctx context.Context, name string, config json.RawMessage, opts ...Option) (Plugin, error) {
	d, ok := r.Driver(name)
	if !ok {
		names := []string{}
		for _, d := range r.Drivers() {
			names = append(names, d.Name)
		}
		known := strings.Join(names, ", ")
		if known == "" {
			known = "none registered"
		}
		return nil, fmt.Errorf("cte: unknown plugin %q (known: %s): %w", name, known, ErrInvalidConfig)
	}
	cfg, err := d.Manifest.Normalize(config)
	if err != nil {
		return nil, fmt.Errorf("cte: open %s: %w", name, err)
	}
	p, err := d.Open(ctx, cfg, ApplyOptions(opts...))
	if err != nil {
		return nil, fmt.Errorf("cte: open %s: %w", name, err)
	}
	return p, nil
}
