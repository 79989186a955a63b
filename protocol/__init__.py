"""The contracts shared by the kiosk, the card service and the fleet. Imports nothing of ours.

The login QR format (:mod:`protocol.login_qr`), the credential envelope on RFC 9180 HPKE
(:mod:`protocol.credential`), the admin-key cryptogram (:mod:`protocol.admin_key`), the
problem codes (:mod:`protocol.problems`), and RFC 3339 times on the wire
(:mod:`protocol.times`).
"""
