"""Kubernetes semantics, pure, shared by every layer: Pod facts, selectors, tolerations, JSON Patch ops."""
