"""Suspicious-activity alerts: rules read the audit trail as it is written and raise alerts.

``watcher`` reads committed events after a cursor, ``rules`` decides, ``dispatch`` records each
alert as an audit event, queues mail and queues signed webhooks that ``webhooks`` delivers.
"""
