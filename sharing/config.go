package sharing

import (
	"fmt"
	"strings"
	"time"
)

// DefaultAging is how long after its lastSeen an indicator stays active when a
// source does not say otherwise.
const DefaultAging = 90 * 24 * time.Hour

// MinSyncInterval is the shortest sync interval Run accepts without a warning:
// shorter ones work but load the products for little gain.
const MinSyncInterval = 5 * time.Minute

// Config is a sharing configuration: indicators of Source that match Rule go to
// Target of Destination. It is one-way; two configurations make a bidirectional
// exchange, and several may point at one destination or one target.
type Config struct {
	Name        string `json:"name" yaml:"name"`
	Source      string `json:"source" yaml:"source"`           // plugin that pulls
	Rule        string `json:"rule" yaml:"rule"`               // business rule name
	Destination string `json:"destination" yaml:"destination"` // plugin that pushes
	Target      string `json:"target" yaml:"target"`           // a cte.Target ID of Destination
}

// check reports the first empty field of c.
func (c Config) check() error {
	for _, f := range []struct{ name, v string }{
		{"name", c.Name}, {"source", c.Source}, {"rule", c.Rule}, {"destination", c.Destination}, {"target", c.Target},
	} {
		if strings.TrimSpace(f.v) == "" {
			return fmt.Errorf("sharing %q: %s is empty: name the %s", c.Name, f.name, f.name)
		}
	}
	return nil
}

// SourceSettings are the engine-side settings of a plugin configuration.
type SourceSettings struct {
	// SyncInterval is how often Run pulls the plugin and shares what it brought.
	// Zero means Run never pulls it (a destination-only plugin, or manual syncs).
	SyncInterval time.Duration `json:"syncInterval,omitempty" yaml:"syncInterval,omitempty"`
	// Aging is how long after its lastSeen an indicator from this source stays
	// active; zero means DefaultAging. An indicator's own ExpiresAt ends it sooner.
	Aging time.Duration `json:"aging,omitempty" yaml:"aging,omitempty"`
	// PushOnly marks a plugin that cannot pull; it cannot be the source of a
	// sharing configuration.
	PushOnly bool `json:"pushOnly,omitempty" yaml:"pushOnly,omitempty"`
}

func (s SourceSettings) aging() time.Duration {
	if s.Aging <= 0 {
		return DefaultAging
	}
	return s.Aging
}
