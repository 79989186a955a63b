"""The kiosk appliance: the unlock flow, its controller, the touch UI, the card service client.

``kiosk run`` (:mod:`kiosk.appliance`) wires them from ``kiosk.toml``
(:mod:`kiosk.config`); ``kiosk card ...`` (:mod:`kiosk.card_commands`) is the
technician's look at a card. The decisions are pure (:mod:`kiosk.flow`); the
card, the card service and the event sink are interfaces at the edge
(:mod:`kiosk.ports`).
"""
