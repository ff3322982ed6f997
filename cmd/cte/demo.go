package main

import "context"

func (a *app) cmdDemo(ctx context.Context, args []string) int {
	fmt := a.stderr
	_, _ = fmt.Write([]byte("cte demo: not available in this build yet\n"))
	return exitFailure
}
