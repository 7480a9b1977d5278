"""The cluster edge: certificates, and the only code that imports the Kubernetes client."""
