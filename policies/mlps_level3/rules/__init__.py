"""The rules of the mlps-level3 pack, one per module; importing them starts nothing (no gRPC server)."""

from policies.mlps_level3.rules import (
    access_six_roles,
    admin_second_factor,
    aes256_gcm_at_rest,
    audit_retention,
    certificate_lifetime,
    data_retention,
    dr_site_latency,
    key_rotation,
    kmip_least_privilege,
    no_plaintext_secrets,
    separation_of_duties,
    ssh_host_keys_pinned,
    ssh_password_login_off,
    tls13_minimum,
    tls_exceptions,
    vault_policy_no_wildcard,
)

PACK = "mlps-level3"
DESCRIPTION = "China MLPS 2.0 (GB/T 22239-2019) level 3, as it applies to a podforge GPU cluster"
POLICIES = [module.POLICY for module in (
    access_six_roles,
    admin_second_factor,
    aes256_gcm_at_rest,
    audit_retention,
    certificate_lifetime,
    data_retention,
    dr_site_latency,
    key_rotation,
    kmip_least_privilege,
    no_plaintext_secrets,
    separation_of_duties,
    ssh_host_keys_pinned,
    ssh_password_login_off,
    tls13_minimum,
    tls_exceptions,
    vault_policy_no_wildcard,
)]
