"""The few calls the bot makes against one Kubernetes cluster, with errors translated.

`ClusterApi` wraps one client: every call has a timeout, goes through `k8s.retry` (urllib3's
retries are off) and raises only `k8s.errors`. Objects come back as the server's JSON (dicts),
the same shape for built-in and KubeSphere types; `k8s.gather` turns them into typed facts.
Where the clients come from (a kubeconfig, the pod's own account) is `k8s.registry`'s concern.

The calls are grouped by what they reach: `transport.py` (timeouts, retries, error translation,
paging; `ClientSettings`), `builtin.py` (Kubernetes' own objects), `custom.py` (custom objects,
by the `k8s.kinds` constants), `discovery.py` (version, API groups, KubeSphere's API through the
service proxy).
"""

from __future__ import annotations

from k8s.access.builtin import BuiltinObjects
from k8s.access.custom import CustomObjects
from k8s.access.discovery import Discovery


class ClusterApi(BuiltinObjects, CustomObjects, Discovery):
    """The bot's typed calls against one cluster. Thread-safe: urllib3 pools connections."""

    def __repr__(self) -> str:
        return f"ClusterApi({self.name!r})"

    def with_deadline(self, deadline: float) -> ClusterApi:
        """The same cluster; every call (retries and timeouts included) ends by `deadline`."""
        if self.deadline is not None:
            deadline = min(deadline, self.deadline)
        return ClusterApi(self.name, self._client, self.settings, deadline)
