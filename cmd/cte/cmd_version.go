package main

import (
	"context"
	"fmt"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3"; otherwise
// the module version from the build information is used.
var version = ""

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

func (a *app) cmdVersion(_ context.Context, args []string) int {
	if len(args) > 0 {
		return a.usageErr("version", "takes no arguments")
	}
	if a.json {
		return a.writeJSON(map[string]string{"version": buildVersion()})
	}
	fmt.Fprintf(a.stdout, "cte %s\n", buildVersion())
	return exitOK
}
