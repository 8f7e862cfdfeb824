"""kustodian: the policy gate and release tool of this GitOps repository."""

__version__ = "0.1.0"
