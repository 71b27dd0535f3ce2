"""YAML text the simulated controllers read again and again, parsed once.

A host reads each member's kubeconfig (clientcmd) and each cluster's kubesphere-config on
nearly every reconcile; parsing them with PyYAML's pure-Python loader was most of the time a
world took to build. The text is the cache key, so an edited object is parsed afresh, and each
caller gets its own copy to change as it likes.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import yaml

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML was built with it


@functools.lru_cache(maxsize=512)
def _parsed(text: str | bytes) -> Any:
    return yaml.load(text, Loader=_Loader)


def parse(text: str | bytes) -> Any:
    """yaml.safe_load(text); raises yaml.YAMLError as it does."""
    return copy.deepcopy(_parsed(text))
