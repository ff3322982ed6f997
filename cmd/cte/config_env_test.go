package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExpand(t *testing.T) {
	t.Parallel()
	env := testEnv("EMPTY", "", "X", "x")
	for _, tc := range []struct{ in, want, err string }{
		{in: "plain", want: "plain"},
		{in: "a${X}b${X}", want: "axbx"},
		{in: "$${X}", want: "${X}"},
		{in: "${EMPTY:-dflt}", want: "dflt"},
		{in: "${UNSET:-}", want: ""},
		{in: "${X:-dflt}", want: "x"},
		{in: "${EMPTY}", want: ""},
		{in: "${UNSET}", err: "environment variable UNSET is not set; export it, or write ${UNSET:-} to allow it to be empty"},
		{in: "${X", err: "${ without a closing }; write ${NAME}"},
		{in: "${1X}", err: "${1X} is not a variable reference; write ${NAME} with letters, digits and _"},
		{in: "${}", err: "${} is not a variable reference; write ${NAME} with letters, digits and _"},
	} {
		got, err := expand(tc.in, env)
		if tc.err != "" {
			assert.EqualError(t, err, tc.err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
}
