"""The end-to-end suites start a cluster of long-lived Go servers (etcd, kube-apiserver, Argo CD
...): they run with Go's default garbage collector, not with the settings tests/conftest.py
gives the suite's short-lived Go processes."""

from __future__ import annotations

import os

from support.processes import SHORT_LIVED_GO

for _key, _value in SHORT_LIVED_GO.items():
    if os.environ.get(_key) == _value:
        del os.environ[_key]
