"""The contracts shared by the kiosk, the card service and the fleet. Imports nothing of ours.

The login QR format (:mod:`protocol.login_qr`), the credential envelope
(:mod:`protocol.credential`), the admin-key cryptogram (:mod:`protocol.admin_key`).
"""
