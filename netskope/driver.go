package netskope

import (
	"context"
	"encoding/json"

	"github.com/ctexchange/cte"
)

// DriverName is the name Driver registers under.
const DriverName = "netskope"

// Version is the version of this client and plugin, sent in the User-Agent.
const Version = "1.0.0"

// Driver returns the Netskope driver for a cte.Registry. Open takes a configuration
// normalised by the manifest (see Manifest) and returns a *Plugin.
func Driver() cte.Driver {
	return cte.Driver{Name: DriverName, Manifest: Manifest(), Open: open}
}

func open(_ context.Context, config json.RawMessage, o cte.Options) (cte.Plugin, error) {
	cfg, err := ParseConfig(config)
	if err != nil {
		return nil, err
	}
	return NewPlugin(cfg, fromHost(o)...)
}

// fromHost turns what a host injects (cte.Options) into this package's options:
// the one place the two option layers meet.
func fromHost(o cte.Options) []Option {
	return []Option{WithName(o.Name), WithLogger(o.Logger), WithClock(o.Clock), WithHTTPClient(o.HTTPClient)}
}

// Manifest describes the configuration form of the Netskope plugin.
func Manifest() cte.Manifest {
	return cte.Manifest{
		ID:          DriverName,
		Name:        "Netskope",
		Version:     Version,
		Description: "Pulls file hashes and URLs from Netskope malware and malsite alerts (REST API v2 Data Export); pushes SHA256/MD5 hashes to File Profile hash lists (REST API v1) and URLs and hosts to URL lists (REST API v2).",
		Capabilities: cte.Capabilities{
			Pull: true, Push: true, Retract: true,
		},
		Config: []cte.Field{
			{
				Key: "tenant_url", Label: "Tenant URL", Type: cte.FieldText, Required: true, Max: cte.Float(253),
				Description: "The tenant, e.g. https://acme.goskope.com or a regional host; a bare name such as acme means https://acme.goskope.com. No path.",
			},
			{
				Key: "v2_token", Label: "REST API v2 token", Type: cte.FieldPassword, Required: true,
				Description: "Sent in the Netskope-Api-Token header. Scopes: Data Export alerts malware and malsite (read) to pull; URL list (read+write) to push to URL lists.",
			},
			{
				Key: "v1_token", Label: "REST API v1 token", Type: cte.FieldPassword,
				Description: "Only needed to update File Hash Lists (Settings > Tools > REST API v1). Sent in the request body, never in a URL.",
			},
			{
				Key: "alert_types", Label: "Alert types to pull", Type: cte.FieldMultiChoice,
				Default: []string{AlertMalware, AlertMalsite},
				Choices: []cte.Choice{{Key: "Malware (file hashes)", Value: AlertMalware}, {Key: "Malsite (URLs)", Value: AlertMalsite}},
			},
			{
				Key: "hash_types", Label: "Hash types to pull", Type: cte.FieldMultiChoice,
				Default: []string{"sha256", "md5"},
				Choices: []cte.Choice{{Key: "SHA256", Value: "sha256"}, {Key: "MD5", Value: "md5"}},
			},
			{
				Key: "initial_range_days", Label: "Initial range (days)", Type: cte.FieldNumber,
				Default: DefaultInitialRangeDays, Min: cte.Float(0), Max: cte.Float(MaxInitialRangeDays),
				Description: "How many days of alerts the first pull reads; 0 starts now.",
			},
			{
				Key: "file_hash_lists", Label: "File Hash List names", Type: cte.FieldList,
				Description: "The names of the File Profile hash lists to push to (a list; a comma-separated string is read too), created in Policies > Profiles > File (the API cannot list them). Case-sensitive. Needs v1_token.",
			},
			{
				Key: "file_hash_list_types", Label: "File Hash List hash types", Type: cte.FieldMultiChoice,
				Default:     []string{"sha256"},
				Choices:     []cte.Choice{{Key: "SHA256", Value: "sha256"}, {Key: "MD5", Value: "md5"}},
				Description: "The hash types the File Hash Lists take; a SHA256 File Profile takes sha256 only.",
			},
			{
				Key: "max_list_mb", Label: "File Hash List size (MiB)", Type: cte.FieldNumber,
				Default: MaxListMB, Min: cte.Float(1), Max: cte.Float(MaxListMB),
				Description: "The most a File Hash List holds, counted as the comma-joined list; the tenant takes at most 8 MiB.",
			},
		},
	}
}
