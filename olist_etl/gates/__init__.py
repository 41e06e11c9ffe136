"""The quality gates: GX suites on the source, the staged parts, the delta tables and the merged star schema."""
