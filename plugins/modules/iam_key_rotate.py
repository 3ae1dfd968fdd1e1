#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r'''
module: iam_key_rotate
short_description: Rotate AWS IAM access keys safely, with verification, quota pre-flight and grace-period purge
version_added: 0.1.0
description:
  - Rotates the access key of one or many IAM users when the newest Active key is older than O(max_age)
    (or the user has no Active key, or O(force=true)). Otherwise nothing is touched (RV(reason=not_due)).
  - B(Quota pre-flight.) IAM allows two access keys per user. An Active key is never deleted to make room.
    An Inactive key is deleted to make room only if its deactivation was recorded by this module (an IAM user
    tag C(secops-rotation:deactivated:<key id>)) more than O(grace_period) ago and the key was not used since
    (C(GetAccessKeyLastUsed)). Otherwise the task fails with a message that names each key and why it cannot
    be removed, and nothing is changed.
  - B(Verification.) The new key is verified with STS C(GetCallerIdentity) signed by the new key, which must
    answer with the user's ARN. IAM is eventually consistent, so failed attempts are retried with bounded
    exponential backoff (0.5 s, 1 s, 2 s, 4 s, then every 8 s) until O(verify_timeout). If the key never
    verifies it is deleted again and the task fails.
  - B(Creation.) C(CreateAccessKey) is sent once, never retried (after a timeout whose request reached AWS, a
    retry would create a second key). After such an uncertain failure the user's keys are listed; a key that the
    request created anyway is deleted (its secret was lost with the reply), and the message names it.
  - B(Old key.) O(old_key) decides what happens to the previous Active key after the new one verified. It
    stays V(active) (blue-green overlap; deactivate it later with O(state=deactivated)), becomes V(inactive)
    or is V(deleted). A deactivation is recorded in a user tag so that O(state=purged) can delete the key after
    the grace period. In a batch, old keys are changed only once every user has a verified (and stored) new key.
  - B(Failures return no secret.) A failing task prints its whole result, also without C(register), so a failed
    task never returns a secret access key. A new key that would be lost with it is deleted again and its old key
    restored (Active again); a new key stored in Vault (O(store_path)) is kept. Each user's RV(results[].msg) says
    which, with the key ids. In a batch, one failing user therefore rolls back the new keys of the other users
    that are not stored (their RV(results[].reason) is V(rolled_back)); use O(store_path) to keep them.
  - B(State deactivated.) Deactivates the keys in O(key_ids) (default all Active keys but the newest), refusing
    a key last used after O(cutover) (it is still in use somewhere) and refusing to leave the user without an
    Active key, unless O(force=true). O(cutover) is required unless O(force=true). For a key that is already
    Inactive without a recorded deactivation time, records the time (starts the grace period); with
    O(force=true), records it again (restarts it).
  - B(State purged.) Deletes the Inactive keys whose recorded deactivation is older than O(grace_period) and
    that were not used since; reports the keys still waiting with their times. An Inactive key without a
    recorded deactivation time (deactivated by hand) gets one now, so a later run can purge it.
    Deactivation tags of keys that no longer exist or are Active again are removed.
  - B(Optional store.) With O(store_path), the new key id and secret are written to a Vault/OpenBao KV v2
    secret, so services and Vault Agent templates can read it. The fields are C(access_key_id),
    C(secret_access_key), C(user_name), C(user_arn), C(previous_access_key_id) and C(created_at) (of the new key).
    Before the first change (and in check mode) the module logs in, checks that O(store_mount) is a KV version 2
    mount and reads the secret's current version; the write after the verification uses check-and-set on that
    version. If the write fails (for example another rotation wrote the secret meanwhile), the new key is deleted
    and the task fails. When the answer to the write is lost (a timeout), the secret is read again. If it is at the
    expected version with the new key id, the key counts as stored (with a warning); otherwise it is deleted.
    The token needs C(read) on C(<store_mount>/metadata/<path>) and C(create)/C(update) on
    C(<store_mount>/data/<path>) (and C(read) there for the check after a lost answer). The Vault connection
    options are only used when O(store_path) is set.
  - B(Batch.) O(users) rotates many users in one task with one boto3 session; each user gets its own result.
    If one user fails, the task fails and returns no secret, so the new keys of the other users are kept only
    where they are stored in Vault (see above).
author:
  - secops.rotation developers (@secops)
extends_documentation_fragment:
  - secops.rotation.aws
  - secops.rotation.vault
attributes:
  check_mode:
    description: Predicts what would be deleted, created, deactivated and stored; reads IAM (and Vault with O(store_path)), changes nothing.
    support: full
  diff_mode:
    description: Shows each user's key ids, statuses and recorded deactivation times before and after; never a secret.
    support: full
options:
  state:
    description:
      - V(rotated) rotates keys that are due; V(deactivated) deactivates old keys; V(purged) deletes keys that
        have been inactive longer than O(grace_period).
    type: str
    default: rotated
    choices: [rotated, deactivated, purged]
  user_name:
    description:
      - The IAM user whose keys are handled. Mutually exclusive with O(users); one of them is required.
      - Not to be confused with O(username), the Vault userpass login for the optional store.
    type: str
    aliases: [iam_user]
  users:
    description:
      - Several users in one task. Each item takes the task's top-level value of every option it does not set.
    type: list
    elements: dict
    suboptions:
      user_name:
        description: The IAM user.
        type: str
        required: true
        aliases: [iam_user]
      max_age:
        description: Overrides O(max_age) for this user.
        type: raw
      force:
        description: Overrides O(force) for this user.
        type: bool
      old_key:
        description: Overrides O(old_key) for this user.
        type: str
        choices: [active, inactive, deleted]
      key_ids:
        description: Overrides O(key_ids) for this user.
        type: list
        elements: str
      cutover:
        description: Overrides O(cutover) for this user.
        type: str
      grace_period:
        description: Overrides O(grace_period) for this user.
        type: raw
      store_path:
        description: Overrides O(store_path) for this user.
        type: str
  max_age:
    description:
      - With O(state=rotated), rotate when the newest Active key is at least this old.
      - A duration such as V(90d), V(2160h), V(1h30m) or a number of seconds.
    type: raw
    default: 90d
  force:
    description:
      - With O(state=rotated), rotate even if the newest key is younger than O(max_age) (RV(reason=forced)).
      - With O(state=deactivated), deactivate without O(cutover), even a key used after O(cutover) or the last Active
        key, and record the deactivation time of an already Inactive key again.
      - Not supported with O(state=purged); shorten O(grace_period) instead.
    type: bool
    default: false
  old_key:
    description:
      - With O(state=rotated), what happens to the previous Active key once the new key verified (and was stored).
      - V(active) keeps it working next to the new one (blue-green; deactivate it later with O(state=deactivated)
        once nothing uses it). V(inactive) deactivates it and records the time. V(deleted) deletes it.
      - V(inactive) and V(deleted) break every application that still uses the old key; use them only when the
        new key reaches the applications by other means first.
      - When not set, V(active) (not written as a default because O(old_key) is refused with the other states).
    type: str
    choices: [active, inactive, deleted]
  key_ids:
    description:
      - With O(state=deactivated), the access key ids to deactivate (default all Active keys but the newest).
      - With O(state=purged), only these keys are considered (default all Inactive keys).
      - Not used with O(state=rotated).
    type: list
    elements: str
  cutover:
    description:
      - With O(state=deactivated), refuse to deactivate a key last used after this time (it is still in use).
        Required with O(state=deactivated) unless O(force=true) (which deactivates without looking at the last use).
      - An ISO 8601 time (V(2026-11-26T10:00:00Z)), typically the moment every application had switched to the new
        key, or a duration before now (V(15m) means "refuse a key used in the last 15 minutes").
      - It must not be after now (no use can be after it yet, so the check would prove nothing), and must be between
        V(1970-01-01T00:00:00Z) and V(8999-12-31T23:59:59Z).
      - IAM updates the last-used time with a delay (AWS documents up to several hours); choose the cutover accordingly.
    type: str
  grace_period:
    description:
      - How long a key must have been inactive (per its deactivation tag) before O(state=purged) deletes it, or a
        rotation deletes it to make room. A duration such as V(24h) or V(7d); V(0) means immediately.
    type: raw
    default: 24h
  verify:
    description:
      - Verify the new key with STS C(GetCallerIdentity) before anything else happens. Turn off only for an
        endpoint without STS.
    type: bool
    default: true
  verify_timeout:
    description:
      - How long to keep trying to verify the new key (a duration such as V(60s) or V(2m), at most V(1h)), with
        exponential backoff between attempts (0.5 s doubling, at most 8 s apart).
    type: raw
    default: 60s
  sts_endpoint_url:
    description:
      - STS endpoint used to verify the new key. Defaults to O(endpoint_url) (or boto3's configuration).
    type: str
  store_path:
    description:
      - Write the new key to this KV v2 secret path (under O(store_mount)) with check-and-set.
      - V({user_name}) is replaced by the IAM user name, so one O(store_path) serves a batch.
      - Needs the Vault connection options (O(url), O(token) or another O(auth_method), ...).
    type: str
  store_mount:
    description:
      - Mount point of the KV version 2 secrets engine for O(store_path) (a KV version 1 mount is refused).
    type: str
    default: secret
  return_secret:
    description:
      - Return the new secret access key in RV(secret_access_key). Set to V(false) when O(store_path) is the only
        place it should go; V(false) without O(store_path) is refused with O(state=rotated) (the secret would go
        nowhere, and a key whose secret nobody has blocks the next rotation).
      - A failed task never returns a secret (see the description).
    type: bool
    default: true
  now:
    description:
      - Take this ISO 8601 time as the current time for every decision (age, grace period, cutover given as a
        duration) in a what-if run.
      - Only in check mode (V(now=2026-12-24T00:00:00Z) shows what a run on that day would do); a real run with it
        is refused, because it would cut grace periods short and record false deactivation times.
      - Between V(1970-01-01T00:00:00Z) and V(8999-12-31T23:59:59Z).
    type: str
notes:
  - Every task that can return a secret needs C(no_log=true), not only tasks that register the result. A rotation
    returns the new secret access key (unless O(return_secret=false)), and Ansible prints a result on failure and
    at C(-v). A failed task itself never returns a secret.
  - A deactivation tag edited by hand to something that is not a time between 1970 and 8999 is ignored with a
    warning (the key counts as deactivated without a record; O(state=purged) records the time anew).
  - The module belongs to both action groups C(group/secops.rotation.aws) and C(group/secops.rotation.vault).
  - The deactivation time is kept in an IAM user tag per key (C(secops-rotation:deactivated:<key id>) = UTC ISO 8601),
    which needs C(iam:TagUser), C(iam:UntagUser) and C(iam:ListUserTags) besides C(iam:GetUser), C(iam:ListAccessKeys),
    C(iam:GetAccessKeyLastUsed), C(iam:CreateAccessKey), C(iam:UpdateAccessKey) and C(iam:DeleteAccessKey).
seealso:
  - name: How-to guide
    description: IAM key rotation with this collection, including tests and the clock option.
    link: https://github.com/secops/rotation/blob/main/docs/iam_keys.md
'''

EXAMPLES = r'''
- name: Rotate the key of a service user when it is older than 90 days, keep the old key working
  secops.rotation.iam_key_rotate:
    user_name: svc-billing
    max_age: 90d
  register: billing_key
  no_log: true  # the result holds the new secret access key

- name: Rotate and store the new key in Vault KV v2 (secret/aws/svc-billing), do not return the secret
  secops.rotation.iam_key_rotate:
    user_name: svc-billing
    store_path: aws/{user_name}
    return_secret: false
    url: https://vault.example.com:8200
    auth_method: approle
    role_id: "{{ vault_role_id }}"
    secret_id: "{{ vault_secret_id }}"
  register: stored_key
  no_log: true

- name: Rotate 3 users in one task, deactivating their old keys
  secops.rotation.iam_key_rotate:
    users:
      - user_name: svc-a
      - user_name: svc-b
      - user_name: svc-c
        max_age: 30d
    old_key: inactive
  register: batch
  no_log: true

- name: After every application switched, deactivate old keys unless they were used in the last 15 minutes
  secops.rotation.iam_key_rotate:
    state: deactivated
    user_name: svc-billing
    cutover: 15m

- name: Delete keys inactive for more than 24 hours and unused since
  secops.rotation.iam_key_rotate:
    state: purged
    users: "{{ service_users }}"  # a list like [{user_name: svc-a}, {user_name: svc-b, grace_period: 7d}]
    grace_period: 24h

- name: What would a purge do in two days? (check mode with the clock option)
  secops.rotation.iam_key_rotate:
    state: purged
    user_name: svc-billing
    now: "{{ '%Y-%m-%dT%H:%M:%SZ' | ansible.builtin.strftime(now().timestamp() + 172800, utc=true) }}"
  check_mode: true
'''

RETURN = r'''
changed:
  description: Whether any key, tag or stored secret was (or in check mode would be) changed.
  returned: always
  type: bool
msg:
  description:
    - What was done or, in check mode, what would be done, and why; on failure, what went wrong. Never a secret.
    - "For a single O(user_name), the user's message. For a batch C(<failed users and why>; <notes>; <summary>), the
      first part only when a user failed (C(1 of 3 users failed: svc-b: ...)), a note naming the users rolled back
      because of it, and the summary (C(rotated 2 of 3 users), C(would have rotated 3 of 3 users) in check mode)."
    - The result has the shape every module of the collection returns, see
      C(docs/results.md) in the collection.
  returned: always
  type: str
  sample: "rotated the access key of svc-billing (key AKIA... is older than 90d): created and verified AKIA..., kept old key AKIA... active"
reason:
  description:
    - Why the module acted or not. V(missing) (no Active key), V(age) (older than O(max_age)), V(forced),
      V(not_due) (nothing to do), V(deactivated), V(in_use) (refused, used after the cutover), V(purged),
      V(waiting) (keys still in their grace period), V(rolled_back) (this user's new key was deleted again because
      another user of the batch failed), V(error). For a batch, the reason every user has, else V(mixed).
  returned: always
  type: str
  sample: age
reasons:
  description:
    - How many users had each reason (see RV(reason)), for a single user as well as a batch.
  returned: always
  type: dict
  sample: {"age": 2, "not_due": 8}
diff:
  description:
    - In diff mode, each changed user's key ids, statuses and recorded deactivation times before and after (never a
      secret), headed C(IAM user <name>).
    - For a single O(user_name) a dict C({before, after, before_header, after_header}); for O(users) a B(list) of
      those, one per user that changed, in the order given. Not in RV(results) entries.
  returned: in diff mode, when a user changed (or would change)
  type: raw
  sample: [{"before_header": "IAM user svc-a", "after_header": "IAM user svc-a",
            "before": {"user_name": "svc-a", "keys": [{"access_key_id": "AKIA...OLD", "status": "Active", "deactivated_at": null}]},
            "after": {"user_name": "svc-a", "keys": [{"access_key_id": "AKIA...OLD", "status": "Active", "deactivated_at": null},
                                                      {"access_key_id": "AKIA...NEW", "status": "Active", "deactivated_at": null}]}}]
results:
  description:
    - One entry per user, in the order given. For a single O(user_name) its fields are also at the top level.
    - An entry never has a C(diff) (see RV(diff)).
  returned: always
  type: list
  elements: dict
  contains:
    user_name:
      description: The IAM user.
      type: str
    user_arn:
      description: ARN of the IAM user.
      type: str
    changed:
      description: Whether this user's keys or tags were (would be) changed.
      type: bool
    failed:
      description:
        - Whether this user failed. What was created for it was rolled back, except a new key stored in Vault
          (RV(results[].msg) says which). Also V(true) for a user rolled back because another user failed
          (RV(results[].reason=rolled_back)).
      type: bool
    reason:
      description: See RV(reason).
      type: str
    msg:
      description: See RV(msg).
      type: str
    access_key_id:
      description: The new access key id (V(null) if none was created, in check mode, or after a rollback).
      type: str
    secret_access_key:
      description:
        - B(Secret.) The new secret access key. Only after a rotation with O(return_secret=true), and only when the
          task succeeded (a failed task returns no secret). Register with C(no_log=true).
      type: str
    created_at:
      description: Creation time of the new key, UTC ISO 8601.
      type: str
    verified:
      description: Whether the new key answered STS GetCallerIdentity with the user's ARN (V(false) with O(verify=false)).
      type: bool
    verify_attempts:
      description: Attempts the verification took.
      type: int
    verify_seconds:
      description: Seconds the verification took.
      type: float
    old_access_key_id:
      description: The previous newest Active key (V(null) if there was none).
      type: str
    old_key:
      description: What happened to it, see O(old_key).
      type: str
    deleted_key_ids:
      description: Keys deleted (to make room, or purged).
      type: list
      elements: str
    deactivated_key_ids:
      description: Keys deactivated by O(state=deactivated).
      type: list
      elements: str
    recorded_key_ids:
      description: Inactive keys whose deactivation time was recorded by this run.
      type: list
      elements: str
    waiting:
      description: With O(state=purged), Inactive keys not deleted yet, with their times and why.
      type: list
      elements: dict
      contains:
        access_key_id:
          description: The key.
          type: str
        deactivated_at:
          description: Recorded deactivation time.
          type: str
        purge_after:
          description: When the grace period ends (V(null) when the key was used after its deactivation).
          type: str
        last_used_at:
          description: Last use of the key.
          type: str
        why:
          description: Why the key is not deleted yet.
          type: str
    removed_tags:
      description: With O(state=purged), key ids whose stale deactivation tag was removed.
      type: list
      elements: str
    rolled_back_key_id:
      description:
        - A new key that was created and then deleted again because verification, the store or the old key step
          failed, or because another user of the batch failed.
      type: str
    stored:
      description: Where the new key was written in Vault (V(null) without O(store_path)).
      type: dict
      contains:
        mount:
          description: KV v2 mount.
          type: str
        path:
          description: Secret path.
          type: str
        version:
          description: The KV version written.
          type: int
    keys:
      description: The user's keys after the run (predicted in check mode, where a new key shows as V((new key))).
      type: list
      elements: dict
      contains:
        access_key_id:
          description: Key id.
          type: str
        status:
          description: V(Active) or V(Inactive).
          type: str
        created_at:
          description: Creation time, UTC ISO 8601.
          type: str
        last_used_at:
          description: Last use per GetAccessKeyLastUsed (V(null) if never used).
          type: str
        deactivated_at:
          description: Recorded deactivation time of an Inactive key.
          type: str
user_name:
  description: The IAM user (single O(user_name) only).
  returned: when O(user_name) is given
  type: str
  sample: svc-billing
user_arn:
  description: ARN of the IAM user (single O(user_name) only).
  returned: when O(user_name) is given and the user exists
  type: str
  sample: arn:aws:iam::123456789012:user/svc-billing
access_key_id:
  description: The new access key id (single O(user_name) only).
  returned: when O(user_name) is given
  type: str
  sample: AKIAIOSFODNN7EXAMPLE
secret_access_key:
  description:
    - B(Secret.) The new secret access key (single O(user_name) only). Register the task with C(no_log=true).
    - Never returned by a failed task.
  returned: after a successful rotation with O(return_secret=true)
  type: str
created_at:
  description: Creation time of the new key.
  returned: after a rotation
  type: str
  sample: "2026-11-26T11:00:00Z"
verified:
  description: See RV(results[].verified).
  returned: when O(user_name) is given and O(state=rotated)
  type: bool
verify_attempts:
  description: See RV(results[].verify_attempts).
  returned: after a verified rotation
  type: int
  sample: 1
verify_seconds:
  description: See RV(results[].verify_seconds).
  returned: after a verified rotation
  type: float
  sample: 0.02
old_access_key_id:
  description: See RV(results[].old_access_key_id).
  returned: when O(user_name) is given and O(state=rotated)
  type: str
old_key:
  description: See RV(results[].old_key).
  returned: when O(user_name) is given and O(state=rotated)
  type: str
deleted_key_ids:
  description: See RV(results[].deleted_key_ids).
  returned: when O(user_name) is given and O(state=rotated) or O(state=purged)
  type: list
  elements: str
deactivated_key_ids:
  description: See RV(results[].deactivated_key_ids).
  returned: when O(user_name) is given and O(state=deactivated)
  type: list
  elements: str
recorded_key_ids:
  description: See RV(results[].recorded_key_ids).
  returned: when O(user_name) is given and O(state=deactivated) or O(state=purged)
  type: list
  elements: str
waiting:
  description: See RV(results[].waiting).
  returned: when O(user_name) is given and O(state=purged)
  type: list
  elements: dict
removed_tags:
  description: See RV(results[].removed_tags).
  returned: when O(user_name) is given and O(state=purged)
  type: list
  elements: str
rolled_back_key_id:
  description: See RV(results[].rolled_back_key_id).
  returned: when a new key was deleted again
  type: str
stored:
  description: See RV(results[].stored).
  returned: when O(user_name) is given and O(state=rotated)
  type: dict
keys:
  description: See RV(results[].keys).
  returned: when O(user_name) is given and the user could be read
  type: list
  elements: dict
'''

from ansible_collections.secops.rotation.plugins.module_utils._aws import BOTO3_IMPORT_ERROR
from ansible_collections.secops.rotation.plugins.module_utils._iam import (
    MUTUALLY_EXCLUSIVE, REQUIRED_ONE_OF, IamKeyRotator, argument_spec)
from ansible_collections.secops.rotation.plugins.module_utils._module import RotationModule


def main():
    RotationModule(IamKeyRotator, argument_spec(), requires=[('boto3', BOTO3_IMPORT_ERROR)],
                   mutually_exclusive=MUTUALLY_EXCLUSIVE, required_one_of=REQUIRED_ONE_OF).run()


if __name__ == '__main__':
    main()
