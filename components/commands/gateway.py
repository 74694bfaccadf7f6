"""`podforge gateway serve|key|keys|revoke`: the inference gateway of a stack, and its API keys."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from components import exitcodes
from components.commands import example
from components.spec.access import AccessRole

ADMIN = ("system_admin", "security_admin", "audit_admin")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gateway", help="the inference gateway: serve it, issue and revoke its API keys",
                       description="The OpenAI-compatible inference gateway in front of the engine: the spec's six "
                                   "roles enforced per endpoint, personal data desensitized in prompts and "
                                   "completions, every call in the audit log (docs/gateway.md).",
                       **example("podforge gateway serve --stack lab --engine http://127.0.0.1:8000"))
    actions = p.add_subparsers(dest="action", required=True)

    serve = actions.add_parser("serve", help="run the gateway (until stopped)",
                               description="Serve the gateway of a stack with uvicorn: the spec's access roles, "
                                           "its gateway section (limits, OIDC, desensitization), the stack's key "
                                           "store and audit log; with the spec's gateway.tls, TLS 1.3 with a "
                                           "certificate from Vault PKI, renewed before it expires (SIGHUP: now). "
                                           "Stops on Ctrl-C or SIGTERM.",
                               **example("podforge gateway serve --stack lab --listen 127.0.0.1:8080 "
                                         "--engine http://127.0.0.1:8000 --engine http://127.0.0.1:8001"))
    serve.add_argument("--stack", required=True, help="stack name (reads Pulumi.NAME.yaml and the spec it names)")
    serve.add_argument("--listen", metavar="ADDR:PORT",
                       help="address and port to listen on (default: the spec's gateway.listen, 127.0.0.1:8080)")
    serve.add_argument("--engine", action="append", metavar="URL",
                       help="an engine replica's OpenAI-compatible base URL, http://HOST:PORT (repeatable; default: "
                            "the spec's gateway.engines, else http://127.0.0.1:SERVING_PORT)")
    _store_options(serve)
    serve.add_argument("--audit-log", type=Path, metavar="FILE",
                       help="audit log file (default: the spec's gateway.audit_log, else "
                            "state/STACK.gateway-audit.jsonl in the project)")
    serve.add_argument("--tls-vault", metavar="URL",
                       help="Vault API address issuing the certificate of gateway.tls (default: the spec's "
                            "keys.vault.address; http:// only on a loopback address)")
    serve.add_argument("--tls-vault-ca", type=Path, metavar="FILE",
                       help="CA bundle that verifies Vault's HTTPS certificate (default: the system's)")
    serve.add_argument("--tls-token-file", type=Path, metavar="FILE",
                       help="file holding the Vault token (default: gateway.tls.token_file, else the "
                            "environment's VAULT_TOKEN); never printed")
    serve.set_defaults(run=run_serve)

    key = actions.add_parser("key", help="issue an API key for a role (shown once)",
                             description="Issue an API key for one of the spec's roles and print it once; the key "
                                         "store keeps only its SHA-256. Administrator roles sign in with OIDC "
                                         "tokens carrying a second factor, so they get no API key.",
                             **example("podforge gateway key --stack lab --role api_user --name billing-app"))
    key.add_argument("--stack", required=True, help="stack name (reads Pulumi.NAME.yaml and the spec it names)")
    key.add_argument("--role", required=True, choices=[r.value for r in AccessRole if r.value not in ADMIN],
                     help="the role the key acts in")
    key.add_argument("--name", required=True, help="the key's name, a DNS label (unique in the store)")
    key.add_argument("--json", action="store_true", help="print the key and its record as JSON")
    _store_options(key)
    key.set_defaults(run=run_key)

    keys = actions.add_parser("keys", help="list the API keys (never the keys themselves)",
                              description="List the key store's records: id, name, role and time issued.",
                              **example("podforge gateway keys --stack lab"))
    keys.add_argument("--stack", required=True, help="stack name (reads Pulumi.NAME.yaml and the spec it names)")
    _store_options(keys)
    keys.set_defaults(run=run_keys)

    revoke = actions.add_parser("revoke", help="revoke an API key by its id",
                                description="Remove a key from the store; a running gateway refuses it from its "
                                            "next request on.",
                                **example("podforge gateway revoke --stack lab 3f9a0c1b2d4e"))
    revoke.add_argument("--stack", required=True, help="stack name (reads Pulumi.NAME.yaml and the spec it names)")
    revoke.add_argument("key_id", metavar="ID", help="the key's id (`podforge gateway keys` lists them)")
    _store_options(revoke)
    revoke.set_defaults(run=run_revoke)


def _store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key-store", type=Path, metavar="FILE",
                        help="the key store file (default: the spec's gateway.key_store, else "
                             "state/STACK.gateway-keys.json in the project)")


def _fail(message: str) -> int:
    print(f"podforge gateway: {message}", file=sys.stderr)
    return exitcodes.INVALID


def _store(args: argparse.Namespace):  # -> KeyStore
    from components.gateway.keys import KeyStore, default_path
    from components.spec import load_stack_spec

    stack, loaded = load_stack_spec(args.stack)
    if args.key_store:
        return KeyStore(args.key_store.absolute())
    configured = loaded.spec.gateway.key_store
    return KeyStore(stack.root / configured if configured else default_path(stack.root, stack.name))


def run_serve(args: argparse.Namespace) -> int:
    from components.gateway.serve import ServeError, engines_of, parse_listen, runtime, serve, tls_rotator
    from components.gateway.tls import TlsError
    from components.spec import load_stack_spec

    stack, loaded = load_stack_spec(args.stack)
    spec = loaded.spec
    try:
        listen = parse_listen(args.listen or spec.gateway.listen)
        rt = runtime(spec, stack.root, stack.name, engines_of(spec, args.engine),
                     args.key_store.absolute() if args.key_store else None,
                     args.audit_log.absolute() if args.audit_log else None)
        rotator = tls_rotator(spec, stack.root, args.tls_vault, args.tls_vault_ca and args.tls_vault_ca.absolute(),
                              args.tls_token_file and args.tls_token_file.absolute())
    except ServeError as exc:
        return _fail(str(exc))
    if rotator is not None:
        try:
            rotator.first()
        except TlsError as exc:
            print(f"podforge gateway: no TLS certificate: {exc}", file=sys.stderr)
            return exitcodes.FOUND
    serve(rt, listen, rotator)
    return exitcodes.OK


def run_key(args: argparse.Namespace) -> int:
    from components.gateway.keys import KeyStoreError

    store = _store(args)
    try:
        record, key = store.issue(args.name, args.role)
    except KeyStoreError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"cannot write {store.path}: {exc.strerror or exc}")
    if args.json:
        print(json.dumps({**record.public(), "key": key}, indent=2))
    else:
        print(key)
        print(f"key {record.id} ({record.name}, role {record.role}) issued; it is shown only now, the store "
              f"{store.path} keeps its SHA-256", file=sys.stderr)
    return exitcodes.OK


def run_keys(args: argparse.Namespace) -> int:
    from components.gateway.keys import KeyStoreError

    store = _store(args)
    try:
        records = store.records()
    except KeyStoreError as exc:
        return _fail(str(exc))
    for record in records:
        print(f"{record.id}  {record.name:<24} {record.role:<16} {record.created}")
    return exitcodes.OK


def run_revoke(args: argparse.Namespace) -> int:
    from components.gateway.keys import KeyStoreError

    store = _store(args)
    try:
        record = store.revoke(args.key_id)
    except KeyStoreError as exc:
        return _fail(str(exc))
    if record is None:
        return _fail(f"no key with id {args.key_id!r} in {store.path} (`podforge gateway keys --stack {args.stack}` "
                     "lists them)")
    print(f"key {record.id} ({record.name}) revoked")
    return exitcodes.OK
