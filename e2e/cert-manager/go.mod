// The cert-manager release whose CustomResourceDefinitions (deploy/crds in the module) the e2e
// suite installs to have the chart's Issuer and Certificate objects read by a real API server
// (tests/e2e/certmanager.py). Nothing is built from it.
module placement-webhook/e2e/cert-manager

go 1.26

require github.com/cert-manager/cert-manager v1.21.2
