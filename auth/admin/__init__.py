"""Administration of an organisation: its audit trail, its members' sessions, its user list.

Organisation admins see and act on their own organisation only (another organisation's ids are
"not found"); platform operators named in ``audit.operators`` read every organisation's events.
"""
