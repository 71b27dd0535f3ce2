"""The cluster side: KubeSphere access, preflight checks, migration steps and the simulator."""
