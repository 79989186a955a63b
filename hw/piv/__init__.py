"""The PIV card profile (NIST SP 800-73-4): constants, data objects, session."""
