"""Deployment configuration (PKCS#11 seal keys, trust) and the development PKI."""
