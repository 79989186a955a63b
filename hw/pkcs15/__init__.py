"""PKCS#15 (ISO/IEC 7816-15) on-card structures: schema, typed model, file reading."""
