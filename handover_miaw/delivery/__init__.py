"""Deliveries to the bot platform: envelopes, their formats per platform, and the dispatcher.

Pure, importing nothing of I/O (checked by tests/test_purity.py): `envelope` (building and signing) and
`formats` (one envelope as an HTTP request per format); `dispatcher` drains the outbox over HTTP. Nothing is
re-exported here, so importing a pure module loads only what that module needs.
"""
