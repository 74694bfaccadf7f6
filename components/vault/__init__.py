"""podforge's own Vault code: the access model's policies, the server's config stanzas, and calls to a Vault-API server."""
