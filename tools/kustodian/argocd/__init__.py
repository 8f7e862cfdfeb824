"""Argo CD objects as the gate sees them: Applications, ApplicationSets, and how the Argo CD
repo-server turns one Application source into manifests (docs/targets.md)."""
