"""What the tests expect of a plan, written down by hand (never read from the code under test)."""

#: The steps of the documented `migrate member-a to host-b keep ns1,ns2` on the demo world.
DOCUMENTED_STEPS = [
    "prepare_credential",
    "validate_from_host",
    "unbind_namespaces",
    "remove_placement",
    "delete_workspaces",
    "validate_from_host",
    "unbind_cluster",
    "join_cluster",
    "ensure_workspace",
    "rebind_namespaces",
    "verify",
]
