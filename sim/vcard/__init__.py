"""Virtual smart cards served to the real pcscd through the vpcd reader driver.

The vsmartcard project's vpcd driver makes pcscd show "Virtual PCD" readers
and listens on a TCP port per slot; a virtual card (here, :mod:`sim.vcard.vpcd`)
connects to that port to be "inserted" and disconnects to be "removed".
Everything above pcscd (pyscard, OpenSC, yubico-piv-tool) sees a real reader.
"""
