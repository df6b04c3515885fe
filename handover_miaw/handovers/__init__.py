"""Handovers: the application service (`application.Handovers`), its collaborators and its pure core.

Pure, importing nothing of I/O (checked by tests/test_purity.py): `machine` (the state machine),
`node_settings` (the node's settings, typed), `mapping` (settings to MIAW fields), `preview`, `timers`,
`ids`, `credentials`. The rest (`engine`, `start`, `user_actions`, `watchdog`, `ownership`, `connectors`,
`live`, `calls`) runs the machine's decisions against MIAW and the store, for `application`. Nothing is
re-exported here, so importing one pure module loads only what that module needs.
"""
