// Command cte shares threat indicators between Mimecast and Netskope: it pulls
// file hashes from each product, routes them through business rules and pushes
// them to the other, keeping its state in one local file (or, for several
// instances, one PostgreSQL database).
//
// Try it without any account or setup:
//
//	go run ./cmd/cte demo
//
// # Configuration
//
// One YAML file: --config FILE, else $CTE_CONFIG, else cte.yaml. testdata/cte.yaml
// is a commented example of the usual setup. The keys:
//
//	state: ./cte-state.db            # the bbolt state file, relative to the config file's folder; or a postgres:// URL
//	lease: 30s                       # postgres state only: how long a dead instance's work waits for another
//	log_retention: 90d               # audit entries older than this are deleted daily; default 90d; 0 keeps all
//	plugins:                         # name -> plugin configuration
//	  mimecast:
//	    type: mimecast               # mimecast | netskope
//	    sync_interval: 5m            # 90s, 5m, 1h30m, 1d12h, 1.5d, 1w; default 1h; under 5m warns
//	    aging: 90d                   # inactive when not seen for this long; default 90d
//	    pull: true                   # pull even when no sharing configuration has it as its source
//	    config: {...}                # the plugin's manifest keys (cte validate checks them)
//	rules:                           # name -> business rule
//	  all-file-hashes:
//	    filter: type in (sha256, md5)  # the query language of package sharing/rule; "all" matches everything
//	    exceptions: [tags has benign]  # queries, or {name, query, tags}
//	    muted: false
//	sharing:                         # one-way sharing configurations
//	  - {name: m2n, source: mimecast, rule: all-file-hashes, destination: netskope, target: file-hash-list/CE_Malware_Hashes}
//
// ${NAME} in a value is replaced by the environment variable NAME, so secrets stay
// out of the file; an unset variable is an error unless written ${NAME:-default}.
// $${ is a literal ${.
//
// Every problem is reported with the file, the line, the key and what to write
// instead, all problems at once, e.g.
//
//	cte.yaml:6: plugins.mimecast.sync_interval: "5 minutes" is not a duration; write e.g. 5m or 1h
//
// Secret values (password fields of a plugin, and anything that came from the
// environment) never appear in an error; everything cte writes passes through a
// filter that replaces the configured secrets with [redacted] as a second guard.
//
// # Commands
//
//	cte validate [NAME]            each plugin's Validate against its product, one line each
//	cte targets NAME               where plugin NAME can share to
//	cte sync [--source NAME]       one pull-and-share cycle now
//	cte run [--listen ADDR]        the scheduler, until SIGINT or SIGTERM (stops cleanly); --listen serves the console
//	cte sharing                    the sharing table: rule, source, destination, target, last run, counts
//	cte replay SHARING             send everything SHARING selects again now
//	cte test SHARING [--days N] [--value V]  a dry run of one sharing configuration
//	cte iocs [--filter Q] [--limit N] [--stix]  the stored indicators, filtered with the rule language
//	cte iocs add|mark-safe|unmark-safe|tag|untag|delete VALUE...  actions on indicators, audited
//	cte explain VALUE              where a value came from and why each configuration shares it or not
//	cte logs [--level L] [--since D] [--limit N]  the audit log
//	cte state check|backup FILE    check the state file for damage, or copy it
//	cte demo [--keep]              the whole exchange against in-process fakes (--json: JSON lines)
//	cte completion bash|zsh|fish   the shell completion script
//	cte version                    also cte --version
//
// Every command takes --config FILE, --json (JSON on stdout for machines instead of
// tables) and --log-level L, before or after the command name. Long pulls and
// pushes show a progress line on stderr when it is a terminal; otherwise stderr
// gets plain log lines (the audit entries, at --log-level).
//
// While "cte run" holds the state file it serves a unix socket beside it
// (STATE.sock): sharing, iocs (and its actions), explain, logs, test, sync and
// replay find it and have the daemon run them (sync and replay with the daemon's
// secrets). The other commands that open the state file wait one second and
// then say the file is in use.
//
// # Exit codes
//
//	0  everything worked
//	1  the work failed: a product refused or could not be reached, or the state file could not be used
//	2  the command line or the configuration file is wrong; nothing was done
//	3  part of the work failed: some plugins did not validate, some sources did not sync, a pull stopped part way
//	130 interrupted by SIGINT (Ctrl-C); what was stored so far is kept
//
// Values a product refuses (rejected indicators) are recorded and shown, and are
// not failures of the command.
//
// # Files
//
// One file per command (cmd_sync.go, cmd_iocs.go, ...), as bbolt's command
// does; the configuration file in config.go (loading), config_yaml.go (the YAML
// walk), config_plugins.go, config_rules.go, config_sharing.go (its sections),
// config_env.go (${VAR} expansion) and config_suggest.go ("did you mean");
// session.go opens the state file, the plugins and the engine; terminal.go owns
// a terminal; jsonout.go gives every --json document its one key style.
package main
