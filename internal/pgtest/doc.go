// Package pgtest gives tests a PostgreSQL schema of their own in the test
// cluster named by CTE_TEST_POSTGRES (scripts/testpg.sh starts one; make test
// does it for every run).
//
// Without CTE_TEST_POSTGRES a test skips with a message saying how to run it,
// unless CTE_REQUIRE_POSTGRES or CI is set (make test and .ci/run set it): then
// it fails, so CI never skips the PostgreSQL tests.
package pgtest
