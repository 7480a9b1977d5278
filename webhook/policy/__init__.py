"""The policy file: YAML with line numbers, the schema and its validation, compilation to predicates."""
