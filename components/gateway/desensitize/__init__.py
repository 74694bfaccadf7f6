"""Personal-data desensitization (floor 1, pure): find the values of 18 categories in a text and mask, hash or
tokenize them, by a policy per category and role; restore tokens for roles allowed to see the originals;
redact a stream chunk by chunk with a bounded hold-back. docs/desensitization.md describes the categories,
their sources, the policies and the streaming rule.
"""

from components.gateway.desensitize.categories import BY_ID, CATEGORIES, IDS, Category
from components.gateway.desensitize.policy import ACTIONS, Policy, Redaction, redact, restore
from components.gateway.desensitize.scanner import Finding, scan
from components.gateway.desensitize.stream import StreamRedactor

__all__ = ["ACTIONS", "BY_ID", "CATEGORIES", "IDS", "Category", "Finding", "Policy", "Redaction", "StreamRedactor",
           "redact", "restore", "scan"]
