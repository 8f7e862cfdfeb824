"""One module per built-in rule; each exports `RULE` (see `kustodian.rules.base.Rule`)."""
