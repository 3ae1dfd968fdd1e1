#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r'''
module: vault_db_rotate
short_description: Rotate, verify, renew and revoke database credentials of the Vault/OpenBao database secrets engine
version_added: 0.1.0
description:
  - Issues new credentials from a B(dynamic) role (C(<mount>/creds/<role>)) or rotates the password of a B(static)
    role (C(<mount>/rotate-role/<role>), then C(<mount>/static-creds/<role>)), only when a rotation is due, unless
    O(force=true).
  - A dynamic role is due when no lease is in use (O(lease_id) not given, expired or revoked), or when the
    remaining TTL of O(lease_id) is below O(lease_threshold) or below O(lease_threshold_fraction) of the lease
    duration. With O(renew=true) a renewable lease is renewed instead, as long as the renewal can still lift it
    above the threshold (the role's C(max_ttl) caps renewals); otherwise new credentials are issued.
  - A static role is due when Vault's last rotation of it is older than O(max_age).
  - B(Verifies) the new credentials before returning them (O(verify=true), the default) by logging in to
    PostgreSQL with psycopg2, running O(check_query) and the O(privileges) checks (C(has_table_privilege)).
    The login is retried briefly (O(verify_attempts)) because a just-created role can take a moment to
    become usable. If the verification fails, the new lease is revoked and the task fails with a message
    naming the failed check.
  - Before anything is issued, every role, lease and database of the task is checked (role exists, lease
    belongs to the role, the database port answers like PostgreSQL); a problem fails the task with nothing changed.
  - O(roles) handles many roles in one task with one Vault login; each item has its own options and its own result.
    If an item fails, what that item created is revoked, the other items keep their new credentials, and the
    task fails naming the failed items.
  - O(state=revoked) revokes the leases in O(lease_id)/O(lease_ids); a lease that is already gone is
    reported as unchanged. With O(no_sessions_of) it first proves that nobody uses the old credentials any more;
    it logs in to PostgreSQL as O(db_user) (for example the new credentials) and waits up to O(sessions_timeout)
    until none of these users has a session in C(pg_stat_activity); if some remain, it revokes nothing and fails
    (reason V(in_use)).
extends_documentation_fragment:
  - secops.rotation.vault
attributes:
  check_mode:
    support: full
    description:
      - Predicts what would be rotated, renewed or revoked and why (C(would rotate ...)), reading only
        (role, lease lookup, static credentials) and opening a TCP connection to the database port to check
        that it answers like PostgreSQL (no login, no session; with C(ssl=on) a TLS handshake that is closed
        cleanly, so the server logs nothing beyond the C(connection received) line of C(log_connections));
        it never issues, renews, rotates or revokes anything.
      - It logs in to PostgreSQL only with O(state=revoked) and O(no_sessions_of), once, as O(db_user), to count the
        sessions in C(pg_stat_activity) (a read, without waiting); sessions found make the check run fail like the
        real run would (reason V(in_use)).
  diff_mode:
    support: full
    description:
      - Shows lease ids, user names, expiry and rotation times before and after, per role or lease, headed by its name
        (a batch returns a list of diffs, see RV(diff)); never passwords.
options:
  state:
    description:
      - V(present) rotates (or renews) the credentials of the role(s) when due.
      - V(revoked) revokes the leases given in O(lease_id) and O(lease_ids), with O(no_sessions_of) only once no
        session of those database users is left.
    type: str
    default: present
    choices: [present, revoked]
  role:
    description:
      - Name of the role in the database secrets engine (not the path).
      - Required with O(state=present) unless O(roles) is given; mutually exclusive with O(roles).
    type: str
  roles:
    description:
      - Several roles in one task. Each entry takes the per-role options below; an option an entry does not
        set is taken from the task's top-level option of the same name.
      - Results come back in RV(results) in the same order.
    type: list
    elements: dict
    suboptions:
      role:
        description: Name of the role.
        type: str
        required: true
      role_type:
        description: See O(role_type).
        type: str
        choices: [dynamic, static]
      mount:
        description: See O(mount).
        type: str
      lease_id:
        description: See O(lease_id).
        type: str
      lease_threshold:
        description: See O(lease_threshold).
        type: raw
      lease_threshold_fraction:
        description: See O(lease_threshold_fraction).
        type: float
      max_age:
        description: See O(max_age).
        type: raw
      renew:
        description: See O(renew).
        type: bool
      renew_increment:
        description: See O(renew_increment).
        type: raw
      force:
        description: See O(force).
        type: bool
      verify:
        description: See O(verify).
        type: bool
      check_query:
        description: See O(check_query).
        type: str
      privileges:
        description: See O(privileges).
        type: list
        elements: dict
        suboptions:
          table:
            description: Table name, optionally schema-qualified.
            type: str
            required: true
          privilege:
            description: Privilege(s) to check.
            type: str
            default: SELECT
      db_host:
        description: See O(db_host).
        type: str
      db_port:
        description: See O(db_port).
        type: int
      db_name:
        description: See O(db_name).
        type: str
      db_sslmode:
        description: See O(db_sslmode).
        type: str
        choices: [disable, allow, prefer, require, verify-ca, verify-full]
      db_require_auth:
        description: See O(db_require_auth).
        type: str
        version_added: 0.2.0
      db_connect_timeout:
        description: See O(db_connect_timeout).
        type: int
      verify_attempts:
        description: See O(verify_attempts).
        type: int
  role_type:
    description:
      - V(dynamic) roles issue a new user and password with a lease on every rotation.
      - V(static) roles keep one database user whose password Vault rotates.
    type: str
    default: dynamic
    choices: [dynamic, static]
  mount:
    description:
      - Mount path of the database secrets engine.
    type: str
    default: database
  lease_id:
    description:
      - With O(state=present), dynamic roles only, the lease of the credentials currently in use, as returned
        by the previous rotation in RV(lease_id). Used to decide whether a rotation is due and, with
        O(renew=true), to renew it. Must be a lease of C(<mount>/creds/<role>/).
      - Without it a dynamic role is always rotated (reason V(missing)).
      - With O(state=revoked), a lease to revoke.
    type: str
  lease_ids:
    description:
      - With O(state=revoked), leases to revoke (in addition to O(lease_id)).
    type: list
    elements: str
  no_sessions_of:
    description:
      - With O(state=revoked), database user names (for example the user of the old credentials); the leases are
        revoked only when none of these users has a session in C(pg_stat_activity) (the checking session excluded).
      - The sessions are counted with the login O(db_user)/O(db_password) on O(db_host), O(db_port), O(db_name);
        any login may see the user names of other sessions, so the new credentials' own login is enough.
      - While sessions remain the module waits (up to O(sessions_timeout)); if some are still there then, nothing is
        revoked and the task fails with reason V(in_use), so the old credentials stay valid.
      - Skipped when none of the leases is active any more (nothing to revoke). Must not be an empty list.
    type: list
    elements: str
    version_added: 0.2.0
  sessions_timeout:
    description:
      - With O(state=revoked) and O(no_sessions_of), how long to wait for the sessions to end (seconds or a duration
        such as V(30s), V(5m)); the sessions are counted again after 0.5, 1, 2, 4, 5, 5, ... seconds.
      - V(0) counts once and does not wait.
      - V(60s) when not set.
    type: raw
    version_added: 0.2.0
  db_user:
    description:
      - With O(state=revoked) and O(no_sessions_of), the PostgreSQL user that logs in to read C(pg_stat_activity);
        it needs no privilege (for example the new credentials of a blue-green switch).
      - If not set, the environment variable E(PGUSER) is used, else libpq's default (the operating system user).
    type: str
    version_added: 0.2.0
  db_password:
    description:
      - Password of O(db_user).
      - If not set, the environment variable E(PGPASSWORD) is used, else libpq's own fallbacks (C(~/.pgpass)).
    type: str
    version_added: 0.2.0
  lease_threshold:
    description:
      - For dynamic roles, rotate when the remaining TTL of O(lease_id) is below this duration.
      - Seconds, or a duration such as V(15m), V(1h30m), V(2d).
      - Mutually exclusive with O(lease_threshold_fraction). When neither is set, a dynamic role with a
        valid O(lease_id) is not due until its lease is gone.
    type: raw
  lease_threshold_fraction:
    description:
      - For dynamic roles, rotate when the remaining TTL of O(lease_id) is below this fraction of the lease's
        duration (since issue or last renewal), for example V(0.25) for the last quarter.
      - A number between 0 and 1 (exclusive). Mutually exclusive with O(lease_threshold).
    type: float
  max_age:
    description:
      - For static roles, rotate when Vault's last rotation of the password (C(last_vault_rotation)) is older
        than this duration, for example V(30d).
      - Without it a static role is only rotated with O(force=true); its current credentials are returned.
    type: raw
  renew:
    description:
      - For dynamic roles, when the lease is due and renewable, renew it instead of issuing new credentials, as long
        as the renewal lifts its TTL back above the threshold. When the role's C(max_ttl) does not allow that
        (or the lease is not renewable) new credentials are issued.
    type: bool
    default: false
  renew_increment:
    description:
      - TTL requested when renewing (a duration); Vault's default (the role's C(default_ttl)) when not set.
      - Needs O(renew=true).
    type: raw
  force:
    description:
      - Rotate even if no rotation is due (reason V(forced)).
    type: bool
    default: false
  verify:
    description:
      - Log in to PostgreSQL with the new credentials, run O(check_query) and the O(privileges) checks before
        returning them. On failure the new lease is revoked (dynamic roles) and the task fails.
      - The checks run in one transaction that is rolled back, so they change no data unless O(check_query)
        itself commits.
    type: bool
    default: true
  check_query:
    description:
      - SQL run as the new user to verify it.
    type: str
    default: SELECT 1
  privileges:
    description:
      - Table privileges the new user must have, checked with C(has_table_privilege(table, privilege)).
    type: list
    elements: dict
    suboptions:
      table:
        description: Table name, optionally schema-qualified (V(public.orders)).
        type: str
        required: true
      privilege:
        description:
          - Privilege to check, or several separated by commas (V(SELECT, INSERT)); any of V(SELECT), V(INSERT),
            V(UPDATE), V(DELETE), V(TRUNCATE), V(REFERENCES), V(TRIGGER), V(MAINTAIN), optionally followed by
            V(WITH GRANT OPTION).
        type: str
        default: SELECT
  db_host:
    description:
      - PostgreSQL host (name, address or Unix socket directory) used to verify the new credentials (and, with
        O(state=revoked), to check O(no_sessions_of)).
      - If not set, the environment variable E(PGHOST) is used, else V(localhost).
    type: str
  db_port:
    description:
      - PostgreSQL port used to verify the new credentials (and to check O(no_sessions_of)).
      - If not set, the environment variable E(PGPORT) is used, else V(5432).
    type: int
  db_name:
    description:
      - Database to log in to when verifying (or checking O(no_sessions_of); C(pg_stat_activity) shows the sessions
        of all databases).
      - If not set, the environment variable E(PGDATABASE) is used, else V(postgres).
    type: str
  db_sslmode:
    description:
      - libpq C(sslmode) of the verification login (and of the O(no_sessions_of) check).
      - If not set, the environment variable E(PGSSLMODE) is used, else V(require) (before 0.2.0 V(prefer), which sent
        the new password to whatever answered the port, with TLS or without).
      - V(require) encrypts the login and the checks. V(verify-full) also proves that the server is the database
        (its certificate must be signed by a CA the controller trusts, e.g. E(PGSSLROOTCERT) or C(~/.postgresql/root.crt)).
        V(prefer), V(allow) and V(disable) log in without TLS when the server offers none; set them only on a network you
        trust (a lab, a Unix socket, where libpq ignores sslmode anyway).
      - With V(require), V(verify-ca) or V(verify-full), a server that does not offer TLS fails the task before anything
        is issued or rotated.
    type: str
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
  db_require_auth:
    description:
      - libpq C(require_auth) of the verification login (and of the O(no_sessions_of) check), the authentication methods
        the module accepts from the server.
      - If not set, the environment variable E(PGREQUIREAUTH) is used, else V(scram-sha-256), so the password is never
        sent, neither in clear text nor as an md5 hash, even to a server impostor that asks for it (SCRAM proves
        knowledge of the password without sending it). Needs libpq 16 or later in psycopg2; with an older libpq the
        default is skipped with a warning, and an explicit value fails the task.
      - Methods V(password), V(md5), V(gss), V(sspi), V(scram-sha-256), V(none), several separated by commas, or all
        refused with C(!) (V(!password,!md5)); V(any) accepts whatever the server asks for.
    type: str
    version_added: 0.2.0
  db_connect_timeout:
    description:
      - Seconds to wait for each connection to PostgreSQL.
    type: int
    default: 5
  verify_attempts:
    description:
      - How many times the verification login is tried when it fails with an authentication error (a new
        role may not be visible at once, e.g. behind a replica); waits 0.25, 0.5, 1, 2, 2, ... seconds between
        attempts. Other errors (unreachable server, missing database, failed checks) are not retried. 1 to 20.
    type: int
    default: 5
requirements:
  - psycopg2 (Python library, on the host that runs the module; only with O(verify=true) or O(no_sessions_of))
notes:
  - The returned RV(password) is a secret. Every task of this module that can return one (O(state=present)) must set
    C(no_log=true), whether it registers the result or not, because a task that fails prints its whole result. The
    module never puts a password in C(msg), warnings, diff or errors.
  - A failed task returns no password at all, also not of the items of a batch that succeeded (RV(results)). Their
    new leases are revoked (RV(revoked_lease_id)), since nobody could use them, and the message says so; a static
    role's new password stays readable in C(<mount>/static-creds/<role>), and the message says that too. A failure
    result carries lease ids, user names, reasons and messages.
  - The request that issues credentials (C(GET <mount>/creds/<role>)) is sent once, never retried after it reached
    Vault, because every send creates a database user. If it fails without an answer or with a 5xx (Vault or a proxy in front
    of it), the role's leases are listed (C(LIST sys/leases/lookup/<mount>/creds/<role>/), which needs C(list) and
    C(sudo)); a lease that appeared meanwhile is revoked, several are named and left alone, and without that permission
    the message names the role and the time to look for.
  - Dynamic roles do not tell which user an existing lease belongs to, so a not-due result and a renewal return
    the lease but no user name or password; keep them from the rotation that issued them (for example in the
    ledger, M(secops.rotation.rotation_state)).
  - With O(state=present) the options O(lease_ids), O(no_sessions_of), O(sessions_timeout), O(db_user) and
    O(db_password) and, with O(state=revoked), O(roles) are rejected.
  - O(no_sessions_of) proves that no session of a user is open at the moment of the check; a connection opened
    right after it (before Vault dropped the user) is not prevented. Stop what uses the old credentials first.
  - Runs on the host it is delegated to; that host needs network access to Vault and to PostgreSQL.
seealso:
  - name: Database secrets engine (OpenBao)
    description: Dynamic and static roles, leases.
    link: https://openbao.org/docs/secrets/databases/
  - name: Database secrets engine (Vault)
    description: Dynamic and static roles, leases.
    link: https://developer.hashicorp.com/vault/docs/secrets/databases
author:
  - secops.rotation developers (@secops)
'''

EXAMPLES = r'''
- name: Issue credentials for the app role, verified with a privilege check
  secops.rotation.vault_db_rotate:
    url: https://vault.example.com:8200
    role: app
    db_host: db.example.com
    db_name: orders
    privileges:
      - table: public.orders
        privilege: SELECT, INSERT
  register: app_creds
  no_log: true
  delegate_to: localhost

- name: Rotate only when the lease in use has less than 20 minutes left
  secops.rotation.vault_db_rotate:
    role: app
    lease_id: "{{ current_lease_id }}"
    lease_threshold: 20m
  register: app_creds
  no_log: true

- name: Renew the lease in its last quarter while max_ttl allows, else issue new credentials
  secops.rotation.vault_db_rotate:
    role: app
    lease_id: "{{ current_lease_id }}"
    lease_threshold_fraction: 0.25
    renew: true
  register: app_creds
  no_log: true

- name: Rotate a static role's password when it is older than 30 days
  secops.rotation.vault_db_rotate:
    role: reporting
    role_type: static
    max_age: 30d
  register: reporting_creds
  no_log: true

- name: Rotate several roles in one task (one Vault login), common options at the top
  secops.rotation.vault_db_rotate:
    lease_threshold: 1h
    db_host: db.example.com
    roles:
      - role: billing
        lease_id: "{{ leases.billing | default(omit) }}"
      - role: shipping
        lease_id: "{{ leases.shipping | default(omit) }}"
        privileges:
          - table: shipments
      - role: legacy
        role_type: static
        max_age: 7d
  register: batch
  no_log: true

- name: Show what happened without the secrets
  ansible.builtin.debug:
    msg: "{{ batch.results | map(attribute='msg') | list }}"

- name: Revoke the previous leases once nothing uses them
  secops.rotation.vault_db_rotate:
    state: revoked
    lease_ids:
      - database/creds/app/2bTmfV6Jp3yqFQ9kRb0Wm1Xa
      - database/creds/app/9PqRsT0uVwXyZ1aB2cD3eF4g

- name: Decommission the old credentials A once nothing uses them, checked with the new credentials B's login
  secops.rotation.vault_db_rotate:
    state: revoked
    lease_id: "{{ old_creds.lease_id }}"
    no_sessions_of:
      - "{{ old_creds.username }}"
    sessions_timeout: 2m
    db_host: db.example.com
    db_name: orders
    db_user: "{{ new_creds.username }}"
    db_password: "{{ new_creds.password }}"   # db_password is no_log: the task needs no no_log for it
  register: decommissioned

- name: Set the Vault connection once for every module of the collection
  module_defaults:
    group/secops.rotation.vault:
      url: https://vault.example.com:8200
      auth_method: approle
      role_id: "{{ vault_role_id }}"
      secret_id: "{{ vault_secret_id }}"
  block:
    - name: Rotate the app role
      secops.rotation.vault_db_rotate:
        role: app
      register: app_creds
      no_log: true
'''

RETURN = r'''
# One role (or lease) or a batch of them: the result has the one shape of every module of the collection, see
# docs/results.md (reason, reasons, msg, diff, results).
changed:
  description: Whether anything was issued, rotated, renewed or revoked (in check mode, whether it would be).
  returned: always
  type: bool
reason:
  description:
    - Why the item was (or was not) rotated. V(missing) (no lease in use, or it is expired or revoked),
      V(expiring) (remaining TTL below the threshold), V(age) (static role older than O(max_age)),
      V(forced), V(not_due); for O(state=revoked) V(requested), V(absent) (already revoked or expired) or
      V(in_use) (a user of O(no_sessions_of) still has sessions, so nothing was revoked), V(error) (the lease could
      not be looked up or revoked).
    - A batch has the reason every item has, or V(mixed) (see RV(reasons)).
  returned: always
  type: str
  sample: expiring
reasons:
  description:
    - "The number of items per reason, for one item too (C({\"expiring\": 1}))."
  returned: always
  type: dict
  sample: {"missing": 2, "not_due": 8}
  version_added: 0.2.0
msg:
  description:
    - What was done or would be done, and why, in words. Never holds a secret.
    - A batch says which items failed and why (only when one failed), then what was rolled back, then a summary such
      as C(not due 1, rotated 2 (3 roles)).
  returned: always
  type: str
  sample: "rotated database/creds/app: lease expires in 4m, below the threshold of 20m; new lease ... verified"
action:
  description: V(rotate), V(renew) or V(none); with O(state=revoked) V(revoke) or V(keep).
  returned: single item
  type: str
  sample: rotate
item:
  description: The item handled, C(<mount>/creds/<role>), C(<mount>/static-creds/<role>) or a lease id.
  returned: single item
  type: str
  sample: database/creds/app
role:
  description: The role name.
  returned: single item with O(state=present)
  type: str
role_type:
  description: V(dynamic) or V(static).
  returned: single item with O(state=present)
  type: str
mount:
  description: Mount of the database secrets engine.
  returned: single item with O(state=present)
  type: str
username:
  description: Database user name of the new (or, for a static role that was not due, current) credentials.
  returned: single item, when credentials were issued or rotated, and for static roles
  type: str
  sample: v-approle-app-x1Yz9abc
password:
  description:
    - B(Secret.) Password of the new credentials (for a static role that was not due, the current password).
      Register the result only in tasks with C(no_log=true).
    - Not returned for a rotation that check mode only predicts, for renewals, for a dynamic role that was not due,
      when the item failed, or when the task failed (see the notes).
  returned: single item, when credentials were issued or rotated, and for static roles
  type: str
lease_id:
  description:
    - For dynamic roles, the lease of the credentials in use after the task (new, renewed, or the unchanged one).
    - With O(state=revoked), the lease handled.
  returned: single item, dynamic roles and O(state=revoked)
  type: str
  sample: database/creds/app/2bTmfV6Jp3yqFQ9kRb0Wm1Xa
previous_lease_id:
  description: For dynamic roles, the O(lease_id) given (null if none).
  returned: single item, dynamic roles
  type: str
revoked_lease_id:
  description:
    - The new lease that was revoked because its verification failed, because the request that issued it failed
      after Vault had created it, or because another item of the batch failed (a failed task returns no password).
  returned: when a dynamic role's new lease was revoked by the task
  type: str
lease_duration:
  description: Seconds the lease is valid for (issued, renewed, or remaining of the unchanged lease).
  returned: single item, dynamic roles (not in check mode)
  type: int
  sample: 3600
renewable:
  description: Whether the lease can be renewed.
  returned: single item, dynamic roles (not in check mode)
  type: bool
expires_at:
  description: When the lease expires, UTC ISO 8601.
  returned: single item, dynamic roles (not in check mode)
  type: str
  sample: "2026-11-26T12:00:00Z"
last_vault_rotation:
  description: For static roles, when Vault last rotated the password, UTC ISO 8601.
  returned: single item, static roles (not in check mode when due)
  type: str
  sample: "2026-11-26T11:00:00Z"
ttl:
  description: For static roles, seconds until Vault rotates the password by itself (the role's C(rotation_period)).
  returned: single item, static roles (not in check mode when due)
  type: int
verified:
  description: Whether the new credentials were verified on PostgreSQL.
  returned: single item with O(state=present)
  type: bool
verification:
  description: What the verification checked.
  returned: when new credentials were verified
  type: dict
  contains:
    login_attempts:
      description: Logins tried until one succeeded.
      type: int
    check_query:
      description: The check query that was run.
      type: str
    privileges:
      description: The privilege checks that passed, each with C(table), C(privilege) and C(granted).
      type: list
      elements: dict
revoked:
  description: With O(state=revoked), the leases revoked by this task (would be revoked, in check mode).
  returned: O(state=revoked)
  type: list
  elements: str
sessions:
  description:
    - With O(no_sessions_of), the number of sessions of each of these users in C(pg_stat_activity) at the last count
      (all zero when the leases were revoked).
  returned: with O(state=revoked) and O(no_sessions_of), when at least one lease was active
  type: dict
  sample: {"v-approle-app-a1B2c3": 0}
  version_added: 0.2.0
sessions_waited:
  description: Seconds spent counting and waiting for the sessions of O(no_sessions_of) to end (0.1 s precision).
  returned: with O(state=revoked) and O(no_sessions_of), when at least one lease was active
  type: float
  sample: 1.6
  version_added: 0.2.0
results:
  description:
    - One entry per role (or per lease with O(state=revoked)) in the order given, with the per-item keys above
      (C(item), C(changed), C(failed), C(reason), C(action), C(msg), C(username), C(password), C(lease_id), ...).
    - A single item (no O(roles) or O(lease_ids) list) also has its keys at the top level.
    - B(Secret) when it holds passwords; run the task with C(no_log=true). When the task fails, no entry holds a
      password.
  returned: always
  type: list
  elements: dict
diff:
  description:
    - With C(--diff), the lease id, user name and times of the item before and after (C(before), C(after),
      C(before_header) and C(after_header) naming the item); never passwords.
    - A batch returns a list of these, one per item, in the order given. No entry of RV(results) has a C(diff).
  returned: in diff mode
  type: raw
  sample: {"before": {"lease_id": null, "expires_at": null}, "after": {"lease_id": "database/creds/app/2bTm",
           "expires_at": "2026-11-26T12:00:00Z", "username": "v-approle-app-x1Yz9abc"},
           "before_header": "database/creds/app", "after_header": "database/creds/app"}
'''

from ansible_collections.secops.rotation.plugins.module_utils._db import DbCredentialRotator, argument_spec
from ansible_collections.secops.rotation.plugins.module_utils._module import RotationModule
from ansible_collections.secops.rotation.plugins.module_utils._vault import HVAC_IMPORT_ERROR


def main():
    # A failed result is printed in full: run_module strips every password from it (the rotator has revoked the new
    # leases whose password would be lost, or says where a static role's new password is).
    RotationModule(DbCredentialRotator, argument_spec(), requires=[('hvac', HVAC_IMPORT_ERROR)], secret_keys=('password',),
                   mutually_exclusive=[('role', 'roles'), ('lease_threshold', 'lease_threshold_fraction')]).run()


if __name__ == '__main__':
    main()
