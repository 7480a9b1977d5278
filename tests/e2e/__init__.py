"""End-to-end tests against a real control plane (etcd, kube-apiserver, controller manager, scheduler)."""
