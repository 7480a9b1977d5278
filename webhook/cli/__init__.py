"""The placement-webhook command line, one module per group of verbs."""
