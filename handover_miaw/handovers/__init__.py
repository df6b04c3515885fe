"""The handover service and its pure core.

Pure, importing nothing of I/O (checked by tests/test_purity.py): `machine` (the state machine), `mapping`
(node settings to MIAW fields), `timers`, `ids`. The rest runs the machine's decisions against MIAW and the
store. Nothing is re-exported here, so importing one pure module loads only what that module needs.
"""
