"""What a developer, a test or a demo needs and the appliance image does not.

Virtual cards served to the real pcscd through vpcd (:mod:`sim.vcard`), the test
SITHS PKI (:mod:`sim.siths_pki`), development TLS certificates (:mod:`sim.dev_pki`),
and the demo wiring (:mod:`sim.demo`, :mod:`sim.cli`). Nothing outside :mod:`sim` imports
it but the ``kiosk demo``/``kiosk vcard`` hand-over in :mod:`kiosk.cli`.
"""
