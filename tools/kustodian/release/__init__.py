"""Releases as minimal, reviewable git commits: image bumps, promotion, canary steps and the
Prometheus canary gate. Every edit is spliced into the original bytes of the file."""
