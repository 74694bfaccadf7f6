"""The inference gateway: the OpenAI-compatible front of the engine, with the spec's six roles enforced per
endpoint, personal data desensitized in prompts and completions (`components.gateway.desensitize`), and every
call appended to a tamper-evident audit log (`components.gateway.audit`)."""
