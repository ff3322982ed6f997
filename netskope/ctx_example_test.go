package netskope_test

import "context"

func ctxBackground() context.Context { return context.Background() }
