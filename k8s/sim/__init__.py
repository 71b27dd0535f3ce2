"""A simulated KubeSphere 3.x multi-cluster world that speaks the real Kubernetes HTTP API."""
