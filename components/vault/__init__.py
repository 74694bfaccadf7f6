"""podforge's own Vault code: access-model policies and the conformance helper that applies declared resources."""
