# A test that fails with MESSAGE: a check that cannot run says why instead of passing.
message(FATAL_ERROR "${MESSAGE}")
