package cte_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Issue 13 item 5: the cte binary and the public fakes it starts for the demo
// link no test code (testing, net/http/httptest, testify).
func TestBinaryLinksNoTestCode(t *testing.T) {
	t.Parallel()
	out, err := exec.CommandContext(t.Context(), "go", "list", "-deps",
		"github.com/ctexchange/cte/cmd/cte",
		"github.com/ctexchange/cte/mimecast/mimecasttest",
		"github.com/ctexchange/cte/netskope/netskopetest").CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "testing" || pkg == "net/http/httptest" || strings.HasPrefix(pkg, "testing/") || strings.Contains(pkg, "stretchr/testify") {
			t.Errorf("the binary or a fake depends on %s", pkg)
		}
	}
}
