#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r'''
---
module: rotation_state
short_description: Rotation ledger in Vault/OpenBao KV v2 (current, pending, previous) and the rotation report
version_added: 0.1.0
description:
  - Keeps the state of secret rotations in one KV version 2 secret per managed secret at
    C(<kv_mount>/<prefix>/<name>), with the slots C(current) (what applications use), C(pending) (the new
    secret, staged but not promoted) and C(previous) (the old secret, kept valid until it is retired), a
    C(phase) (V(idle), V(staged), V(promoted)), a C(rotation_id), C(updated_at) and a bounded C(history).
  - O(action=stage) writes C(pending) only if there is none; if there is one it returns it unchanged with
    RV(resumed=true), so a re-run resumes the same rotation instead of creating another secret.
  - O(action=promote) moves C(current) to C(previous) and C(pending) to C(current); O(action=retire) drops
    C(previous); O(action=abort) drops C(pending); O(action=init) adopts an existing secret as C(current).
  - Every write is a KV v2 check-and-set on the version just read. If the entry changed in between, the task
    fails with a message saying that another rotation is in progress, and nothing is changed.
  - Each operation is idempotent (repeating a successful O(action=promote) is C(changed=false)); illegal
    transitions (promote with nothing staged, stage while the previous secret is not retired, ...) fail
    with a message naming the entry and its state.
  - O(action=report) reads every entry under the prefix and computes, per entry, the age of the current
    secret, the next due date from a per-kind O(policy), whether it is overdue, whether a pending secret is
    stuck (older than O(stuck_after)), and the last O(history_entries) writes from the KV version metadata;
    it returns the report as data and as a Markdown table. The playbook C(secops.rotation.rotation_report)
    writes both to files.
  - "Slot keys are either metadata, shown in results, diffs and the report: C(id), C(created_at),
    C(retired_at), C(username), C(access_key_id), C(lease_id), C(lease_duration), C(serial), C(common_name),
    C(not_before), C(not_after), C(expires_at), C(role), C(description); or secret: every other key
    (C(password), C(secret_access_key), C(private_key), C(certificate), ...). Secret fields are returned only in
    RV(ledger) (also per item in RV(results)), which only O(action=read) and O(action=stage) return."
author:
  - secops.rotation developers (@secops)
options:
  action:
    description:
      - What to do with the ledger entry.
      - V(read) returns the entry (with O(name)), or the metadata of every entry under the prefix (without O(name)).
      - V(stage) records O(secret) as C(pending), unless a pending secret exists (then it is returned, RV(resumed=true)).
      - V(promote) makes C(pending) the C(current) secret and the old C(current) the C(previous) one.
      - V(retire) drops C(previous), recording when in the history.
      - V(abort) drops C(pending) (revoke it yourself; RV(aborted) has its metadata).
      - V(init) adopts an existing secret as C(current) of a new entry (or of an entry that has no current secret).
      - V(report) reads every entry under the prefix and returns RV(report) and RV(report_markdown).
    type: str
    choices: [read, stage, promote, retire, abort, init, report]
    default: read
  name:
    description:
      - Name of the managed secret; the entry is at C(<kv_mount>/<prefix>/<name>).
      - Letters, digits, C(.), C(_), C(-), and C(/) between segments.
      - Required for every action except V(report) and V(read) of all entries. Mutually exclusive with O(items).
    type: str
  kind:
    description:
      - Kind of the managed secret; selects the O(policy) of the report.
      - Stored when the entry is created (default V(generic)); when given for an existing entry of another kind, the task fails.
    type: str
    choices: [db, iam, pki, generic]
  id:
    description:
      - Id of the secret given in O(secret) (a lease id, a user name, an access key id, a certificate serial, ...).
      - Required with O(action=stage) and O(action=init). With O(action=promote), O(action=retire) and
        O(action=abort), the id that is expected in C(pending) (or C(previous) for retire); the task fails if
        the ledger holds another one, and a repeated O(action=promote) of the id that is already C(current) is
        C(changed=false).
    type: str
  secret:
    description:
      - The secret fields of the new slot (for example C(password), or C(secret_access_key), or C(private_key)
        and C(certificate)). Stored in the slot next to its metadata, returned only in RV(ledger).
      - Required with O(action=stage) and O(action=init), except for O(kind=pki), where a certificate's slot may
        hold metadata only (C(serial), C(not_after)), since a host's private key normally never leaves the host.
      - Keys must not be metadata keys (see O(metadata)).
    type: dict
  metadata:
    description:
      - Non-secret fields of the new slot, shown in results, diffs and the report. Allowed keys are
        C(created_at) (default now; ISO 8601, for adopting an older secret), C(username), C(access_key_id),
        C(lease_id), C(lease_duration), C(serial), C(common_name), C(not_before), C(not_after), C(expires_at),
        C(role) and C(description). Times are ISO 8601 (a time without an offset is taken as UTC) and stored in
        UTC with a C(Z).
      - C(not_after) (or C(expires_at)) is what O(policy) C(renew_before) counts from.
      - Only with O(action=stage) and O(action=init).
    type: dict
  rotation_id:
    description:
      - Id of the rotation; stored by O(action=stage) (a random UUID when not given).
      - With O(action=promote), the task fails if the staged rotation has another id, and is C(changed=false)
        if that rotation is already promoted.
    type: str
  items:
    description:
      - Several entries in one task. Each item takes O(name) and optionally O(kind), O(id), O(secret),
        O(metadata) and O(rotation_id); unset ones are taken from the task's options. Mutually exclusive with O(name).
      - All items are validated before the first write. Each item is written on its own (check-and-set per
        entry); the task fails if any item failed, and RV(results) has every item's outcome.
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the managed secret.
        type: str
        required: true
      kind:
        description: As O(kind).
        type: str
        choices: [db, iam, pki, generic]
      id:
        description: As O(id).
        type: str
      secret:
        description: As O(secret).
        type: dict
      metadata:
        description: As O(metadata).
        type: dict
      rotation_id:
        description: As O(rotation_id).
        type: str
  allow_unretired:
    description:
      - Let O(action=stage) start a new rotation while C(previous) of the last one is not retired yet. The
        following promote then drops that previous secret from the ledger (a warning says so); revoke it yourself.
    type: bool
    default: false
  force:
    description:
      - Let O(action=init) overwrite C(current) of an existing entry (only when nothing is staged).
    type: bool
    default: false
  kv_mount:
    description:
      - Mount point of the KV version 2 secrets engine.
    type: str
    default: secret
  prefix:
    description:
      - Folder under O(kv_mount) that holds the ledger entries.
    type: str
    default: rotation
  history_limit:
    description:
      - How many history records an entry keeps (the oldest are dropped), 1 to 1000. The full audit trail is the KV
        version history, bounded by the mount's C(max_versions).
    type: int
    default: 20
  names:
    description:
      - With O(action=report), only report these entry names (default all entries under the prefix).
      - Given names are read directly, without listing the prefix; a name with no entry is reported with the
        flag C(invalid) and the problem C(there is no ledger entry).
    type: list
    elements: str
  policy:
    description:
      - With O(action=report), when each kind is due, as a dict of kind to C(max_age) and/or C(renew_before)
        (durations such as V(1d), V(90d), V(12h)). A string value is short for C(max_age).
      - C(max_age) counts from C(current.created_at); C(renew_before) counts back from C(current.not_after)
        (or C(expires_at)). With both, the earlier date is due.
      - A kind given here replaces that kind's default; the defaults are C(db) C(max_age=1d), C(iam)
        C(max_age=90d), C(pki) C(renew_before=30d), C(generic) C(max_age=90d).
    type: dict
  stuck_after:
    description:
      - With O(action=report), a pending secret older than this is flagged C(stuck). A duration (V(1d), V(4h), seconds).
    type: raw
    default: 1d
  history_entries:
    description:
      - With O(action=report), how many of the last KV versions each entry lists in its C(history), 0 to 100.
    type: int
    default: 5
extends_documentation_fragment:
  - secops.rotation.vault
attributes:
  check_mode:
    support: full
    description: Reads the entry and predicts the change (RV(msg) starts with C(would)); writes nothing.
  diff_mode:
    support: full
    description: Shows the slots' ids and dates and the phase before and after; never a secret field.
notes:
  - Every task with O(action=read) or O(action=stage) can return secret fields in RV(ledger), so set C(no_log=true) on
    it, whether it registers the result or not (a task that fails prints its whole result). A failed result never
    holds RV(ledger), also not in RV(results); it carries names, ids, reasons and messages only. Read the entries again
    with O(action=read).
  - Ansible replaces every value that a module returns and that equals a C(no_log) input with
    C(VALUE_SPECIFIED_IN_NO_LOG_PARAMETER). So after O(action=stage) staged the given O(secret) (or resumed a pending
    secret equal to it), the secret fields of C(pending) in RV(ledger) of that result are that placeholder, not the
    secret. To deploy the pending secret, read the entry back with O(action=read) (it takes no secret input, see
    EXAMPLES) rather than templating the stage result. Ansible also replaces each occurrence of such a value inside
    other returned strings, so a very short secret value (V(1), V(ab)) garbles ids and dates in the result.
  - The token needs C(create), C(read), C(update) and C(list) on C(<kv_mount>/data/<prefix>/*) and
    C(<kv_mount>/metadata/<prefix>/*).
  - "Two rotations of the same name at the same time: one write wins; the other task fails with
    C(another rotation is in progress) and changes nothing."
seealso:
  - name: AWS Secrets Manager staging labels
    description: The model of current/pending/previous this ledger borrows.
    link: https://docs.aws.amazon.com/secretsmanager/latest/userguide/getting-started.html#term_version
'''

EXAMPLES = r'''
- name: Stage the new database credential (a re-run returns the same pending one)
  secops.rotation.rotation_state:
    action: stage
    name: app-db
    kind: db
    id: "{{ new_creds.lease_id }}"
    metadata:
      username: "{{ new_creds.username }}"
      lease_id: "{{ new_creds.lease_id }}"
    secret:
      password: "{{ new_creds.password }}"
  register: staged
  no_log: true

# In the stage result, the secret fields equal to the secret input are masked by Ansible
# (VALUE_SPECIFIED_IN_NO_LOG_PARAMETER). Read the entry back for the deployment: the same call
# whether the stage was fresh or resumed the pending secret of an interrupted run.
- name: Read current (A) and pending (B) with their secret fields
  secops.rotation.rotation_state:
    name: app-db
  register: app_db
  no_log: true

- name: Promote it once every host uses it
  secops.rotation.rotation_state:
    action: promote
    name: app-db
    id: "{{ app_db.ledger.pending.id }}"

- name: Retire the old one after it was revoked
  secops.rotation.rotation_state:
    action: retire
    name: app-db

- name: Give up a staged rotation
  secops.rotation.rotation_state:
    action: abort
    name: app-db
  register: aborted

- name: Adopt an existing IAM key as current
  secops.rotation.rotation_state:
    action: init
    name: svc-backup
    kind: iam
    id: AKIAEXAMPLE
    metadata:
      access_key_id: AKIAEXAMPLE
      created_at: "2026-09-01T00:00:00Z"
    secret:
      secret_access_key: "{{ backup_secret_key }}"
  no_log: true

- name: Report every entry under secret/rotation
  secops.rotation.rotation_state:
    action: report
    policy:
      db: 1d
      iam: {max_age: 90d}
      pki: {renew_before: 30d}
    stuck_after: 4h
  register: rotation

- name: Same connection options for every module of the collection
  module_defaults:
    group/secops.rotation.vault:
      url: https://vault.example.com:8200
      auth_method: approle
      role_id: "{{ vault_role_id }}"
      secret_id: "{{ vault_secret_id }}"
  block:
    - name: Stage two entries in one task
      secops.rotation.rotation_state:
        action: stage
        kind: generic
        items:
          - name: api-a
            id: key-2026-11
            secret: {token: "{{ token_a }}"}
          - name: api-b
            id: key-2026-11
            secret: {token: "{{ token_b }}"}
      no_log: true
'''

RETURN = r'''
changed:
  description: Whether the ledger was (in check mode, would be) written.
  returned: always
  type: bool
reason:
  description:
    - Why. V(read), V(missing) (read of an entry that does not exist), V(staged), V(resumed), V(promoted),
      V(already_promoted), V(retired), V(nothing_to_retire), V(aborted), V(nothing_pending), V(adopted),
      V(already_adopted), V(forced), V(in_progress) (lost a race), V(error), V(report).
    - With O(items), the reason every item has, else V(mixed) (each item's is in RV(results), their counts in RV(reasons)).
    - The same shape as every module of the collection, see C(docs/results.md).
  returned: always
  type: str
  sample: staged
reasons:
  description: How many items have each reason (one item without O(items)).
  returned: for every action except V(report) and V(read) of all entries
  type: dict
  sample: {staged: 2, resumed: 1}
msg:
  description:
    - What happened, for a person (in check mode it starts with C(would)). Never holds a secret.
    - With O(items), C(<which items failed and why>; changed N of M ledger entries) (the first part only when one failed).
  returned: always
  type: str
  sample: staged lease-2 for app-db
name:
  description: Name of the entry.
  returned: with a single item
  type: str
path:
  description: Full KV path of the entry (C(<kv_mount>/<prefix>/<name>)).
  returned: with a single item
  type: str
  sample: secret/rotation/app-db
exists:
  description: Whether the entry exists (after the task; in check mode, whether it would).
  returned: with a single item
  type: bool
resumed:
  description: O(action=stage) found a pending secret and returned it instead of staging a new one.
  returned: with a single item
  type: bool
version:
  description: KV version of the entry after the task (predicted in check mode); 0 when it does not exist.
  returned: with a single item
  type: int
entry:
  description:
    - The entry without secret fields; each slot has only its metadata keys (C(id), C(created_at), C(retired_at),
      C(username), C(access_key_id), C(lease_id), C(serial), C(not_after), ...).
  returned: with a single item
  type: dict
  contains:
    kind:
      description: Kind of the secret.
      type: str
    phase:
      description: V(idle), V(staged) or V(promoted).
      type: str
    rotation_id:
      description: Id of the last staged rotation.
      type: str
    updated_at:
      description: Time of the last write.
      type: str
    current:
      description: Metadata of the current secret (or null).
      type: dict
    pending:
      description: Metadata of the pending secret (or null).
      type: dict
    previous:
      description: Metadata of the previous secret (or null).
      type: dict
    history:
      description: Last writes, oldest first; C(from_id)/C(to_id) are the slot ids the write moved.
      type: list
      elements: dict
      sample: [{version: 2, action: promote, rotation_id: 5c0c..., from_id: lease-1, to_id: lease-2, at: "2026-11-26T11:00:00Z"}]
    name:
      description: Name of the entry.
      type: str
    path:
      description: Full KV path.
      type: str
    version:
      description: KV version.
      type: int
ledger:
  description:
    - B(Secret.) The whole entry as stored, including the secret fields of C(current), C(pending) and C(previous).
    - Null when the entry does not exist. Register it only with C(no_log=true).
    - Not returned when the task fails.
    - In the result of O(action=stage), a secret field equal to the O(secret) input (a fresh stage, or a resume
      with the same secret) reads C(VALUE_SPECIFIED_IN_NO_LOG_PARAMETER) (Ansible masks values equal to C(no_log)
      inputs); use a following O(action=read) to get it.
  returned: with a single item and O(action=read) or O(action=stage)
  type: dict
aborted:
  description: Metadata (no secret fields) of the pending secret that O(action=abort) dropped, so it can be revoked.
  returned: when O(action=abort) dropped a pending secret
  type: dict
retired:
  description: Metadata (no secret fields) of the previous secret that O(action=retire) dropped.
  returned: when O(action=retire) dropped a previous secret
  type: dict
diff:
  description:
    - Before and after of the entry's ids, dates and phase (no secret fields), headed by the entry's KV path.
    - With O(items), a list of those, one per item, in item order.
  returned: in diff mode
  type: raw
results:
  description:
    - One result per item, in the order given, each with C(name), C(path), C(changed), C(failed), C(reason),
      C(msg), C(resumed), C(exists), C(version), C(entry) and, for O(action=read)/O(action=stage),
      C(ledger) (B(secret), as RV(ledger); left out of every item when the task fails). An item that failed has
      C(name), C(path), C(changed), C(failed), C(reason) and C(msg) only. No entry has a C(diff) (see RV(diff)).
  returned: for every action except V(report) and V(read) of all entries
  type: list
  elements: dict
entries:
  description:
    - O(action=read) without O(name) - every entry under the prefix, as RV(entry) (no secret fields).
    - An entry whose latest KV version is deleted has only C(name), C(path), C(version) and C(deleted=true).
    - An entry that is not a valid ledger entry (written by hand or by another tool) is shown as far as it can be read,
      with C(problems), the list of what is wrong with it.
  returned: when O(action=read) is given no O(name)
  type: list
  elements: dict
report:
  description: The rotation report (no secret fields).
  returned: when O(action=report)
  type: dict
  contains:
    generated_at:
      description: When (UTC).
      type: str
    kv_mount:
      description: Mount read.
      type: str
    prefix:
      description: Prefix read.
      type: str
    policy:
      description: The policy applied per kind (durations).
      type: dict
    stuck_after:
      description: Pending age that counts as stuck.
      type: str
    summary:
      description: >-
        Counts C(total), C(overdue), C(stuck), C(pending), C(previous), C(invalid), C(by_kind), and the lists
        C(overdue_names) and C(stuck_names).
      type: dict
    entries:
      description:
        - One per entry, sorted by name. C(name), C(path), C(kind), C(phase), C(version), C(updated_at),
          C(rotation_id), C(current_id), C(created_at), C(rotated_at), C(age) (seconds), C(age_human),
          C(expires_at), C(next_due), C(due_in) (seconds, negative when overdue), C(due_in_human), C(overdue)
          (C(next_due) has come, C(due_in <= 0)), C(pending), C(pending_id), C(pending_since), C(pending_age),
          C(stuck) (C(pending_age) greater than O(stuck_after)), C(previous), C(previous_id),
          C(previous_since), C(problems) (an entry that is not a valid ledger entry), C(flags) (V(overdue),
          V(stuck), V(invalid), V(no_current), V(no_due_date), V(unrecorded_write)).
        - C(history) lists the last O(history_entries) KV versions, newest first, each with C(version),
          C(created_time), C(deleted), C(destroyed) from the KV metadata and C(action), C(rotation_id),
          C(from_id), C(to_id), C(at) from the ledger's record of that write (null for a write made by hand).
      type: list
      elements: dict
report_markdown:
  description: The report as a Markdown table (no secret fields).
  returned: when O(action=report)
  type: str
'''

from ansible_collections.secops.rotation.plugins.module_utils._ledger import Ledger, argument_spec
from ansible_collections.secops.rotation.plugins.module_utils._module import RotationModule


def main():
    # ``ledger`` (secret fields) is stripped from a failed result: a failed batch item's neighbours must not show theirs.
    RotationModule(Ledger, argument_spec(), secret_keys=('ledger',), fail_extra={'changed': False},
                   mutually_exclusive=[('name', 'items')]).run()


if __name__ == '__main__':
    main()
