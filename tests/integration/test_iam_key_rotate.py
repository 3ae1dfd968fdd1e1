# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""secops.rotation.iam_key_rotate against the lab's moto IAM/STS server (and OpenBao for the optional store).

What moto does (measured, moto 5.2): GetAccessKeyLastUsed of a never-used key has no LastUsedDate
(ServiceName/Region "N/A"); any request signed by a key, STS included and even when the key is Inactive,
sets LastUsedDate; STS GetCallerIdentity signed by a fresh key answers with the user's ARN (by a deleted or
unknown key: the default ``user/moto`` ARN); the secret is not checked. So "used after X" is driven by
signing a request with the key, and "deactivated long ago" by tag values in the past. Real runs never take the
``now`` option (it is for check mode only): a test that needs "100 days later" for a real change drives the module's
class with a unit-level clock (``IamKeyRotator(..., clock=...)``).
"""

import concurrent.futures
import datetime
import http.server
import json
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import hvac
import pytest
import requests

from ansible_collections.secops.rotation.plugins.module_utils._aws import AwsConnection
from ansible_collections.secops.rotation.plugins.module_utils._common import RotationError, to_iso, utcnow
from ansible_collections.secops.rotation.plugins.module_utils._iam import IamKeyRotator
from ansible_collections.secops.rotation.plugins.module_utils._vault import get_vault_connection
from lab.runner import run_module, run_playbook

MODULE = 'iam_key_rotate'
FQCN = 'secops.rotation.iam_key_rotate'
TAG = 'secops-rotation:deactivated:'


@pytest.fixture(scope='module')
def aws(lab):
    return AwsConnection({'endpoint_url': lab['AWS_ENDPOINT_URL'], 'access_key': lab['AWS_ACCESS_KEY_ID'],
                          'secret_key': lab['AWS_SECRET_ACCESS_KEY']})


@pytest.fixture(scope='module')
def iam(aws):
    return aws.client('iam')


@pytest.fixture
def env(lab):
    return dict(lab)


def new_user(iam, keys=1, prefix='iamrot'):
    name = '%s-%s' % (prefix, uuid.uuid4().hex[:10])
    iam.create_user(UserName=name)
    ids = [iam.create_access_key(UserName=name)['AccessKey']['AccessKeyId'] for dummy in range(keys)]
    return name, ids


def snapshot(iam, name):
    """Everything the module could change for a user: its keys with status, and its tags."""
    keys = sorted((k['AccessKeyId'], k['Status']) for k in iam.list_access_keys(UserName=name)['AccessKeyMetadata'])
    tags = sorted((t['Key'], t['Value']) for t in iam.list_user_tags(UserName=name)['Tags'])
    return keys, tags


def statuses(iam, name):
    return dict((k['AccessKeyId'], k['Status']) for k in iam.list_access_keys(UserName=name)['AccessKeyMetadata'])


def tags_of(iam, name):
    return dict((t['Key'], t['Value']) for t in iam.list_user_tags(UserName=name)['Tags'])


def use_key(aws, iam, name, key_id):
    """Sign a request with the key (moto records it as the key's last use). The secret is not checked by moto."""
    aws.client_for_keys('sts', key_id, 'unused-by-moto').get_caller_identity()
    assert iam.get_access_key_last_used(AccessKeyId=key_id)['AccessKeyLastUsed'].get('LastUsedDate')


def iso(delta_seconds=0):
    return to_iso(utcnow() + datetime.timedelta(seconds=delta_seconds))


def dead_endpoint():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return 'http://127.0.0.1:%d' % sock.getsockname()[1]


def run(args, env, **kwargs):
    result = run_module(MODULE, args, env=env, **kwargs)
    assert 'Traceback' not in result.stdout + result.stderr
    return result


# ---- rotate ---------------------------------------------------------------------------------------------

def test_rotate_an_old_key_keeps_it_active_then_rerun_is_a_no_op(aws, iam, env, lab):
    name, (old,) = new_user(iam)
    arn = iam.get_user(UserName=name)['User']['Arn']
    # The key is seconds old. What-if in check mode: "100 days later" (the now option) it is older than max_age.
    predicted = run({'user_name': name, 'max_age': '90d', 'now': iso(100 * 86400)}, env, check=True)
    assert predicted['changed'] and predicted['reason'] == 'age' and predicted['msg'].startswith('would rotate'), predicted['msg']
    assert snapshot(iam, name)[0] == [(old, 'Active')]
    # The real run 100 days later: the module's class with a unit-level clock (now is refused outside check mode).
    later = utcnow() + datetime.timedelta(days=100)
    result = IamKeyRotator(rotator_for(lab, user_name=name, max_age='90d'), clock=lambda: later).run()
    assert result['changed'] is True and result['reason'] == 'age' and not result.get('failed'), result['msg']
    new = result['access_key_id']
    assert new and new != old and result['verified'] is True and result['verify_attempts'] >= 1
    assert result['old_access_key_id'] == old and result['old_key'] == 'active'
    assert statuses(iam, name) == {old: 'Active', new: 'Active'}
    assert result['user_arn'] == arn
    secret = result['secret_access_key']
    assert len(secret) >= 40 and secret not in result['msg']
    assert aws.client_for_keys('sts', new, secret).get_caller_identity()['Arn'] == arn
    assert [k['access_key_id'] for k in result['keys']] == [old, new]
    assert result['results'][0]['access_key_id'] == new

    before = snapshot(iam, name)
    again = run({'user_name': name, 'max_age': '90d'}, env)
    assert again['changed'] is False and again['reason'] == 'not_due' and again['access_key_id'] is None
    assert 'secret_access_key' not in again
    assert snapshot(iam, name) == before


def test_key_newer_than_the_clock_is_not_due(iam, env):
    # a key whose CreateDate is after "now" (clock skew between the host and IAM, or a what-if run in the past)
    name, (key,) = new_user(iam)
    before = snapshot(iam, name)
    result = run({'user_name': name, 'now': '2020-01-01T00:00:00Z'}, env, check=True)
    assert result['changed'] is False and result['reason'] == 'not_due' and 'is 0s old' in result['msg'], result['msg']
    assert snapshot(iam, name) == before


@pytest.mark.parametrize('old_key', ['inactive', 'deleted'])
def test_rotate_deactivates_or_deletes_the_old_key(iam, env, old_key):
    name, (old,) = new_user(iam)
    result = run({'user_name': name, 'force': True, 'old_key': old_key}, env, diff=True)
    assert result['changed'] and result['reason'] == 'forced' and result['old_key'] == old_key, result['msg']
    new = result['access_key_id']
    if old_key == 'inactive':
        assert statuses(iam, name) == {old: 'Inactive', new: 'Active'}
        recorded = tags_of(iam, name)[TAG + old]
        assert abs((datetime.datetime.strptime(recorded, '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=datetime.timezone.utc)
                    - utcnow()).total_seconds()) < 60
        assert 'deactivated old key %s' % old in result['msg']
    else:
        assert statuses(iam, name) == {new: 'Active'}
        assert 'deleted old key %s' % old in result['msg']
    after = result['diff']['after']['keys']
    assert new in [k['access_key_id'] for k in after]
    assert result['secret_access_key'] not in json.dumps(result['diff'])


def test_user_without_a_key_gets_one(iam, env):
    name, dummy = new_user(iam, keys=0)
    result = run({'user_name': name}, env)
    assert result['changed'] and result['reason'] == 'missing' and result['old_access_key_id'] is None
    assert statuses(iam, name) == {result['access_key_id']: 'Active'}


def test_two_active_keys_fail_naming_both_and_change_nothing(iam, env):
    name, (first, second) = new_user(iam, keys=2)
    before = snapshot(iam, name)
    result = run({'user_name': name, 'force': True}, env)
    assert result.get('failed') and result['changed'] is False
    assert first in result['msg'] and second in result['msg']
    assert 'an Active key is never deleted to make room' in result['msg']
    assert snapshot(iam, name) == before


def _active_and_inactive(iam, deactivated_at):
    name, (active, inactive) = new_user(iam, keys=2)
    iam.update_access_key(UserName=name, AccessKeyId=inactive, Status='Inactive')
    if deactivated_at:
        iam.tag_user(UserName=name, Tags=[{'Key': TAG + inactive, 'Value': deactivated_at}])
    return name, active, inactive


def test_inactive_key_in_its_grace_period_is_not_deleted_to_make_room(iam, env):
    name, active, inactive = _active_and_inactive(iam, iso(-3600))
    before = snapshot(iam, name)
    result = run({'user_name': name, 'force': True, 'grace_period': '24h'}, env)
    assert result.get('failed') and inactive in result['msg'] and 'grace period of 1d ends at' in result['msg']
    assert snapshot(iam, name) == before


def test_inactive_key_used_after_its_deactivation_is_not_deleted_to_make_room(aws, iam, env):
    name, active, inactive = _active_and_inactive(iam, iso(-2 * 86400))
    use_key(aws, iam, name, inactive)  # something still tries to use it
    before = snapshot(iam, name)
    result = run({'user_name': name, 'force': True}, env)
    assert result.get('failed') and ('%s (Inactive): it was used at' % inactive) in result['msg']
    assert 'after its deactivation at' in result['msg']
    assert snapshot(iam, name) == before


def test_inactive_key_without_a_record_is_not_deleted_to_make_room(iam, env):
    name, active, inactive = _active_and_inactive(iam, None)
    before = snapshot(iam, name)
    result = run({'user_name': name, 'force': True}, env)
    assert result.get('failed') and 'its deactivation time is not recorded' in result['msg']
    assert snapshot(iam, name) == before


def test_expired_unused_inactive_key_is_deleted_then_the_key_rotates(iam, env):
    name, active, inactive = _active_and_inactive(iam, iso(-2 * 86400))
    check = run({'user_name': name, 'force': True}, env, check=True)
    assert check['changed'] and check['deleted_key_ids'] == [inactive] and 'would rotate' in check['msg']
    assert TAG + inactive in tags_of(iam, name) and inactive in statuses(iam, name)
    result = run({'user_name': name, 'force': True}, env)
    assert result['changed'] and result['deleted_key_ids'] == [inactive], result['msg']
    assert statuses(iam, name) == {active: 'Active', result['access_key_id']: 'Active'}
    assert TAG + inactive not in tags_of(iam, name)


def test_verification_that_never_succeeds_deletes_the_new_key(iam, env):
    name, (old,) = new_user(iam)
    before = snapshot(iam, name)
    started = time.monotonic()
    result = run({'user_name': name, 'force': True, 'old_key': 'deleted', 'sts_endpoint_url': dead_endpoint(),
                  'verify_timeout': '2s'}, env)
    elapsed = time.monotonic() - started
    assert result.get('failed') and result['changed'] is False
    assert 'did not verify within 2s' in result['msg'] and 'cannot reach AWS endpoint' in result['msg']
    assert 'was deleted again' in result['msg'] and result['rolled_back_key_id'] and result['access_key_id'] is None
    assert 'secret_access_key' not in result
    assert snapshot(iam, name) == before  # new key gone, old key untouched although old_key=deleted
    assert 2 <= elapsed < 20


def test_store_in_vault_kv_v2_with_check_and_set(iam, env):
    name, (old,) = new_user(iam)
    path = 'iamrot/%s' % name
    result = run({'user_name': name, 'force': True, 'store_path': 'iamrot/{user_name}', 'return_secret': False,
                  'old_key': 'deleted'}, env)
    assert result['changed'] and result['stored'] == {'mount': 'secret', 'path': path, 'version': 1}, result['msg']
    assert 'secret_access_key' not in result
    client = hvac.Client(url=env['VAULT_ADDR'], token=env['VAULT_TOKEN'])
    data = client.secrets.kv.v2.read_secret_version(path=path, mount_point='secret', raise_on_deleted_version=True)['data']['data']
    assert data['access_key_id'] == result['access_key_id'] and data['previous_access_key_id'] == old
    assert len(data['secret_access_key']) >= 40 and data['user_name'] == name
    assert statuses(iam, name) == {result['access_key_id']: 'Active'}
    # the second rotation writes version 2 (check-and-set on version 1)
    again = run({'user_name': name, 'force': True, 'store_path': path, 'old_key': 'deleted'}, env)
    assert not again.get('failed'), again['msg']
    assert again['stored']['version'] == 2 and again['secret_access_key'] not in again['msg']
    data = client.secrets.kv.v2.read_secret_version(path=path, mount_point='secret', raise_on_deleted_version=True)['data']['data']
    assert data['access_key_id'] == again['access_key_id'] and data['previous_access_key_id'] == result['access_key_id']


@pytest.fixture(scope='module')
def vault_admin(lab):
    return hvac.Client(url=lab['VAULT_ADDR'], token=lab['VAULT_TOKEN'])


def test_store_on_a_missing_or_kv1_mount_fails_before_any_key_is_created(iam, env, vault_admin):
    kv1 = 'iamrot-kv1-%s' % uuid.uuid4().hex[:8]
    vault_admin.sys.enable_secrets_engine('kv', path=kv1, options={'version': '1'})
    try:
        name, (old,) = new_user(iam)
        before = snapshot(iam, name)
        for mount, message in (('no-such-mount-%s' % name, 'store_mount no-such-mount-%s does not exist' % name),
                               (kv1, 'store_mount %s is a kv mount of version 1, but store_path needs a KV version 2 mount' % kv1)):
            for check in (True, False):
                result = run({'user_name': name, 'force': True, 'store_path': 'x/{user_name}', 'store_mount': mount}, env, check=check)
                assert result.get('failed') and result['changed'] is False and message in result['msg'], result['msg']
                assert 'was deleted again' not in result['msg']  # nothing was created in the first place
                assert snapshot(iam, name) == before
        assert (vault_admin.list('%s/data/x' % kv1) or {}).get('data') is None  # nothing written to the KV v1 mount
    finally:
        vault_admin.sys.disable_secrets_engine(kv1)


def test_store_with_a_rejected_vault_token_changes_nothing(iam, env):
    name, (old,) = new_user(iam)
    before = snapshot(iam, name)
    for check in (True, False):
        result = run({'user_name': name, 'force': True, 'store_path': 'iamrot/{user_name}', 'token': 'not-a-token'}, env, check=check)
        assert result.get('failed') and result['changed'] is False and 'the Vault token was rejected' in result['msg']
        assert snapshot(iam, name) == before


def test_store_write_denied_rolls_back_only_that_user_of_a_batch(iam, env, vault_admin):
    # A token that may read every secret's metadata but write only under iamrot-ok/: the second user's key is
    # created and verified, its store is refused, so its new key is deleted again; the first user is rotated.
    policy = 'iamrot-store-%s' % uuid.uuid4().hex[:8]
    vault_admin.sys.create_or_update_policy(policy, 'path "secret/metadata/*" { capabilities = ["read"] }\n'
                                                    'path "secret/data/iamrot-ok/*" { capabilities = ["create", "update"] }')
    token = vault_admin.auth.token.create(policies=[policy], ttl='10m')['auth']['client_token']
    good, (good_old,) = new_user(iam)
    bad, (bad_old,) = new_user(iam)
    bad_before = snapshot(iam, bad)
    result = run({'users': [{'user_name': good, 'store_path': 'iamrot-ok/{user_name}'},
                            {'user_name': bad, 'store_path': 'iamrot-ro/{user_name}'}],
                  'force': True, 'old_key': 'inactive', 'token': token, 'return_secret': False}, env)
    first, second = result['results']
    assert result.get('failed') and result['msg'].startswith('1 of 2 users failed: %s: permission denied while writing' % bad)
    assert first['changed'] and not first['failed'] and first['stored']['path'] == 'iamrot-ok/%s' % good
    assert statuses(iam, good) == {good_old: 'Inactive', first['access_key_id']: 'Active'}
    assert second['failed'] and second['changed'] is False and second['access_key_id'] is None
    assert second['rolled_back_key_id'] and 'the new key %s was deleted again' % second['rolled_back_key_id'] in second['msg']
    assert snapshot(iam, bad) == bad_before  # the old key is still Active although old_key=inactive


def rotator_for(lab, **options):
    """The module's logic class with the lab's connection options (no Ansible in between)."""
    params = dict(state='rotated', max_age='90d', force=False, grace_period='24h', verify=True, verify_timeout='10s',
                  store_mount='secret', return_secret=True, endpoint_url=lab['AWS_ENDPOINT_URL'],
                  access_key=lab['AWS_ACCESS_KEY_ID'], secret_key=lab['AWS_SECRET_ACCESS_KEY'],
                  url=lab['VAULT_ADDR'], token=lab['VAULT_TOKEN'])
    params.update(options)
    return params


@pytest.mark.parametrize('existing', [False, True], ids=['new-secret', 'existing-secret'])
def test_store_conflict_with_a_concurrent_writer_on_openbao(iam, lab, vault_admin, existing):
    """A real check-and-set conflict: another writer updates the secret between the module's read and its write."""
    name, (old,) = new_user(iam)
    path = 'iamrot-cas/%s' % name
    if existing:
        vault_admin.secrets.kv.v2.create_or_update_secret(path=path, secret={'access_key_id': old}, mount_point='secret')
    params = rotator_for(lab, user_name=name, force=True, store_path='iamrot-cas/{user_name}', old_key='inactive')
    client, opts = get_vault_connection(params)
    kv = client.secrets.kv.v2
    read = kv.read_secret_metadata

    def read_then_someone_else_writes(**kwargs):  # the hook: the module's own read, then a concurrent rotation's write
        try:
            return read(**kwargs)
        finally:
            vault_admin.secrets.kv.v2.create_or_update_secret(path=path, secret={'writer': 'other'}, mount_point='secret')

    kv.read_secret_metadata = read_then_someone_else_writes
    before = snapshot(iam, name)
    result = IamKeyRotator(params, vault=(client, opts)).run()
    version = 1 if existing else 0
    assert result['failed'] and result['changed'] is False and result['stored'] is None
    assert result['msg'] == ('KV v2 secret secret/%s changed while the key was rotated (check-and-set on version %d failed): '
                             'is another rotation running?; the new key %s was deleted again; the old key %s is still Active'
                             % (path, version, result['rolled_back_key_id'], old))
    assert snapshot(iam, name) == before  # new key gone, old key still Active although old_key=inactive
    current = vault_admin.secrets.kv.v2.read_secret_version(path=path, mount_point='secret', raise_on_deleted_version=True)['data']
    assert current['data'] == {'writer': 'other'} and current['metadata']['version'] == version + 1


def test_verification_insists_on_the_users_arn(iam, lab):
    # moto's STS answers a request signed by a key it does not know with its default identity, not an error:
    # a verifier that only checked "the call worked" would accept it.
    name, dummy = new_user(iam)
    arn = iam.get_user(UserName=name)['User']['Arn']
    rotator = IamKeyRotator(rotator_for(lab, user_name=name, verify_timeout='1s'))
    rotator.validate()
    with pytest.raises(RotationError) as err:
        rotator.verify_key(name, arn, 'AKIAIOSFODNN7EXAMPLE', 'not-the-secret')
    assert 'did not verify within 1s' in str(err.value) and 'STS answered with arn:aws:sts::123456789012:user/moto' in str(err.value)
    assert 'instead of %s' % arn in str(err.value) and 'not-the-secret' not in str(err.value)


# ---- deactivate / purge ---------------------------------------------------------------------------------

def test_deactivated_refuses_a_key_used_after_the_cutover(aws, iam, env):
    name, (old, new) = new_user(iam, keys=2)
    use_key(aws, iam, name, old)
    before = snapshot(iam, name)
    refused = run({'user_name': name, 'state': 'deactivated', 'cutover': iso(-3600)}, env)
    assert refused.get('failed') and refused['reason'] == 'in_use'
    assert '%s was last used at' % old in refused['msg'] and 'still in use' in refused['msg']
    assert snapshot(iam, name) == before
    # after the cutover nothing used it (cutover "0" = now): deactivate the old key, keep the newest
    check = run({'user_name': name, 'state': 'deactivated', 'cutover': '0'}, env, check=True, diff=True)
    assert check['changed'] and check['msg'] == 'would deactivate %s of %s' % (old, name)
    assert [(k['access_key_id'], k['status']) for k in check['diff']['after']['keys']] == [(old, 'Inactive'), (new, 'Active')]
    assert snapshot(iam, name) == before
    result = run({'user_name': name, 'state': 'deactivated', 'cutover': '0'}, env)
    assert result['changed'] and result['deactivated_key_ids'] == [old], result['msg']
    assert statuses(iam, name) == {old: 'Inactive', new: 'Active'} and TAG + old in tags_of(iam, name)
    after = snapshot(iam, name)
    assert run({'user_name': name, 'state': 'deactivated', 'cutover': '0'}, env)['changed'] is False
    assert snapshot(iam, name) == after


def test_deactivated_refuses_the_last_active_key_unless_forced(iam, env):
    name, (only,) = new_user(iam)
    result = run({'user_name': name, 'state': 'deactivated', 'key_ids': [only], 'cutover': '0'}, env)
    assert result.get('failed') and 'without an Active key' in result['msg'] and statuses(iam, name) == {only: 'Active'}
    forced = run({'user_name': name, 'state': 'deactivated', 'key_ids': [only], 'force': True}, env)
    assert forced['changed'] and statuses(iam, name) == {only: 'Inactive'}


def test_purged_deletes_only_keys_past_the_grace_period(aws, iam, env, lab):
    name, (old, new) = new_user(iam, keys=2)
    assert run({'user_name': name, 'state': 'deactivated', 'cutover': '0'}, env)['deactivated_key_ids'] == [old]
    before = snapshot(iam, name)
    waiting = run({'user_name': name, 'state': 'purged', 'grace_period': '24h'}, env)
    assert waiting['changed'] is False and waiting['reason'] == 'waiting'
    assert waiting['waiting'][0]['access_key_id'] == old and waiting['waiting'][0]['purge_after']
    assert snapshot(iam, name) == before
    # two days later: check mode predicts it (the now option), then the purge (a unit-level clock) deletes the key and its tag
    check = run({'user_name': name, 'state': 'purged', 'now': iso(2 * 86400)}, env, check=True, diff=True)
    assert check['changed'] and check['deleted_key_ids'] == [old] and check['msg'].startswith('would delete')
    assert [k['access_key_id'] for k in check['diff']['after']['keys']] == [new]
    assert snapshot(iam, name) == before
    later = utcnow() + datetime.timedelta(days=2)
    result = IamKeyRotator(rotator_for(lab, user_name=name, state='purged'), clock=lambda: later).run()
    assert result['changed'] and result['reason'] == 'purged' and result['deleted_key_ids'] == [old]
    assert statuses(iam, name) == {new: 'Active'} and TAG + old not in tags_of(iam, name)


def test_purged_with_tags_in_the_past_and_keys_used_after_deactivation(aws, iam, env):
    name, (active, expired) = new_user(iam, keys=2)
    dummy, (other_active, used) = new_user(iam, keys=2)
    for user, key in ((name, expired), (dummy, used)):
        iam.update_access_key(UserName=user, AccessKeyId=key, Status='Inactive')
        iam.tag_user(UserName=user, Tags=[{'Key': TAG + key, 'Value': iso(-3 * 86400)}])
    use_key(aws, iam, dummy, used)
    result = run({'users': [{'user_name': name}, {'user_name': dummy}], 'state': 'purged'}, env)
    first, second = result['results']
    assert first['deleted_key_ids'] == [expired] and statuses(iam, name) == {active: 'Active'}
    assert second['changed'] is False and second['waiting'][0]['access_key_id'] == used
    assert 'after its deactivation' in second['waiting'][0]['why'] and second['waiting'][0]['purge_after'] is None
    assert used in statuses(iam, dummy)
    assert result['msg'] == 'purged 1 of 2 users'


def test_purged_records_a_hand_deactivated_key_then_waits(iam, env):
    name, active, inactive = _active_and_inactive(iam, None)
    result = run({'user_name': name, 'state': 'purged'}, env)
    assert result['changed'] and result['recorded_key_ids'] == [inactive] and result['deleted_key_ids'] == []
    assert TAG + inactive in tags_of(iam, name) and inactive in statuses(iam, name)
    assert run({'user_name': name, 'state': 'purged'}, env)['changed'] is False


# ---- batch ----------------------------------------------------------------------------------------------

def test_batch_of_20_users_check_mode_then_rotation_in_one_task(iam, env):
    users = [new_user(iam, prefix='iamrot-b%02d' % index) for index in range(20)]
    before = dict((name, snapshot(iam, name)) for name, dummy in users)
    args = {'users': [{'user_name': name} for name, dummy in users], 'force': True, 'old_key': 'inactive'}
    check = run(args, env, check=True, diff=True)
    assert check['changed'] and len(check['results']) == 20 and check['msg'] == 'would have rotated 20 of 20 users'
    # docs/results.md: reasons counted, a batch's diff is a list headed by each user, no diff inside results
    assert check['reason'] == 'forced' and check['reasons'] == {'forced': 20}
    assert isinstance(check['diff'], list) and [d['before_header'] for d in check['diff']] == ['IAM user %s' % name for name, dummy in users]
    assert all([k['status'] for k in d['after']['keys']] == ['Inactive', 'Active'] for d in check['diff'])
    assert not [entry for entry in check['results'] if 'diff' in entry]
    assert all(r['msg'].startswith('would rotate') and r['access_key_id'] is None for r in check['results'])
    assert dict((name, snapshot(iam, name)) for name, dummy in users) == before
    started = time.monotonic()
    result = run(args, env)
    elapsed = time.monotonic() - started
    assert result['changed'] and result['msg'] == 'rotated 20 of 20 users' and not result.get('failed')
    for (name, (old,)), entry in zip(users, result['results']):
        assert entry['user_name'] == name and entry['verified'] and entry['old_access_key_id'] == old
        assert statuses(iam, name) == {old: 'Inactive', entry['access_key_id']: 'Active'}
    assert elapsed < 60


def test_a_batch_of_20_users_creates_one_session(iam, lab, monkeypatch):
    """Each new key is verified by a client of the task's one session: no session (and no reload of the service models
    from disk) per user. Counted on botocore's session class, which every boto3 session wraps."""
    import botocore.session
    created = []
    init = botocore.session.Session.__init__
    monkeypatch.setattr(botocore.session.Session, '__init__', lambda self, *args, **kwargs: created.append(1) or init(self, *args, **kwargs))
    users = [new_user(iam, prefix='iamrot-s%02d' % index) for index in range(20)]
    result = IamKeyRotator(rotator_for(lab, users=[{'user_name': name} for name, dummy in users], force=True, old_key='deleted')).run()
    assert result['msg'] == 'rotated 20 of 20 users' and not result.get('failed')
    assert all(entry['verified'] and entry['verify_attempts'] >= 1 for entry in result['results'])
    for (name, (old,)), entry in zip(users, result['results']):
        assert statuses(iam, name) == {entry['access_key_id']: 'Active'} and entry['old_access_key_id'] == old
    assert len(created) == 1


def test_batch_with_one_failing_user_fails_and_rolls_back_the_others_without_a_store(iam, env):
    # A failed task returns no secret, so a new key that is not stored in Vault would be lost: it is deleted again.
    good, (good_old,) = new_user(iam)
    bad, bad_keys = new_user(iam, keys=2)
    before = snapshot(iam, good), snapshot(iam, bad)
    result = run({'users': [{'user_name': good}, {'user_name': bad}], 'force': True}, env)
    assert result.get('failed') and result['msg'].startswith('1 of 2 users failed: %s: cannot make room' % bad)
    assert 'rolled back %s' % good in result['msg'] and result['msg'].endswith('rotated 0 of 2 users')
    first, second = result['results']
    assert first['failed'] and first['reason'] == 'rolled_back' and first['changed'] is False and first['access_key_id'] is None
    assert first['msg'].startswith('not rotated: the task failed for %s, and a failed task returns no secret: the new key %s was '
                                   'deleted again; the old key %s is still Active' % (bad, first['rolled_back_key_id'], good_old))
    assert second['failed'] and second['changed'] is False
    assert 'secret_access_key' not in result.stdout
    assert (snapshot(iam, good), snapshot(iam, bad)) == before


# ---- bad input --------------------------------------------------------------------------------------------

BAD_INPUT = [
    ({'user_name': None}, 'one of the following is required: user_name, users'),
    ({'users': [{'user_name': 'x'}]}, 'parameters are mutually exclusive: user_name|users'),
    ({'max_age': '90x'}, "max_age: invalid duration '90x'"),
    ({'max_age': 0}, 'max_age: invalid duration 0: must be greater than zero'),
    ({'grace_period': '-1h'}, "grace_period: invalid duration '-1h'"),
    ({'verify_timeout': 'soon'}, "verify_timeout: invalid duration 'soon'"),
    ({'state': 'gone'}, 'value of state must be one of: rotated, deactivated, purged, got: gone'),
    ({'old_key': 'archived'}, 'value of old_key must be one of: active, inactive, deleted, got: archived'),
    ({'state': 'purged', 'old_key': 'deleted'}, 'old_key is only used with state=rotated, not state=purged'),
    ({'state': 'purged', 'force': True}, 'force is not supported with state=purged'),
    ({'cutover': '1h'}, 'cutover is only used with state=deactivated, not state=rotated'),
    ({'state': 'deactivated', 'cutover': 'last tuesday'}, "cutover: invalid time 'last tuesday'"),
    ({'state': 'deactivated', 'key_ids': ['nope']}, "invalid access key id 'nope' in key_ids"),
    ({'state': 'deactivated', 'key_ids': ['AKIAIOSFODNN7EXAMPLE'], 'cutover': '0'}, 'has no access key AKIAIOSFODNN7EXAMPLE'),
    ({'now': 'tomorrow'}, "now: invalid time 'tomorrow'"),
    ({'now': '2030-01-01T00:00:00Z', 'force': True}, 'now: only allowed in check mode'),
    ({'now': '0001-01-01T00:00:00+01:00'}, "now: time '0001-01-01T00:00:00+01:00' is out of range"),
    ({'now': '9999-12-31T23:59:59-01:00'}, "now: time '9999-12-31T23:59:59-01:00' is out of range"),
    ({'state': 'deactivated'}, 'state=deactivated needs cutover'),
    ({'state': 'deactivated', 'cutover': '0001-01-01T00:00:00+01:00'}, "cutover: time '0001-01-01T00:00:00+01:00' is out of range"),
    ({'state': 'deactivated', 'cutover': '9999-12-31T23:59:59-01:00'}, "cutover: time '9999-12-31T23:59:59-01:00' is out of range"),
    ({'state': 'deactivated', 'cutover': '2999-01-01T00:00:00Z'}, 'cutover: 2999-01-01T00:00:00Z is after now'),
    ({'return_secret': False, 'force': True}, 'return_secret=false needs store_path'),
    ({'sts_endpoint_url': 'ftp://sts.example'}, "invalid sts_endpoint_url 'ftp://sts.example'"),
    ({'sts_endpoint_url': 'http://[sts', 'force': True}, "invalid sts_endpoint_url 'http://[sts'"),  # else: new key orphaned
    ({'verify_timeout': '2d'}, 'verify_timeout: 2d is longer than the maximum of 1h'),
    ({'store_path': 'aws/{user_name}', 'store_mount': ' '}, "invalid store_mount ' '"),
    ({'state': 'deactivated', 'key_ids': ['AKIAIOSFODNN7EXAMPLE\n']}, "invalid access key id 'AKIAIOSFODNN7EXAMPLE\\n'"),
    ({'user_name': 'b\u00fcro'}, "invalid IAM user name 'b\u00fcro'"),
    ({'endpoint_url': 'iam.example'}, "invalid endpoint_url 'iam.example'"),
    ({'access_key': 'AKIAONLYKEY'}, 'access_key and secret_key must be given together'),
    ({'store_path': 'a//b'}, "invalid store_path 'a//b'"),
    ({'store_path': 'aws/{user_name}', 'url': 'vault.example'}, "invalid Vault url 'vault.example'"),
    ({'user_name': 'no-such-user-{uuid}'}, 'IAM user no-such-user-'),
    ({'user_name': 'bad name!'}, "invalid IAM user name 'bad name!'"),
    ({'users': [{'user_name': 'dup'}, {'user_name': 'dup'}], 'user_name': None}, 'user dup is given more than once'),
    ({'users': [{'max_age': '1d'}], 'user_name': None}, 'missing required arguments: user_name found in users'),
]


def test_bad_input_fails_clearly_and_changes_nothing(iam, env):
    name, (key,) = new_user(iam)
    before = snapshot(iam, name)

    def one(case):
        args, message = case
        full = {'user_name': name}
        full.update(args)
        if isinstance(full.get('user_name'), str):
            full['user_name'] = full['user_name'].replace('{uuid}', uuid.uuid4().hex[:8])
        full = dict((k, v) for k, v in full.items() if v is not None)
        result = run_module(MODULE, full, env=env)
        return args, message, result

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(one, BAD_INPUT))
    assert len(outcomes) >= 12
    for args, message, result in outcomes:
        assert result.get('failed') is True, (args, result.get('msg'))
        assert message in result['msg'], (args, result['msg'])
        assert 'Traceback' not in result.stdout + result.stderr, args
        assert result.get('changed') is not True, args
    assert snapshot(iam, name) == before


# ---- through ansible-playbook ---------------------------------------------------------------------------

def test_playbook_at_vvvv_never_shows_the_secret_and_uses_both_action_groups(iam, lab):
    name, (old,) = new_user(iam)
    second, dummy = new_user(iam)
    third, dummy3 = new_user(iam)
    fourth, dummy4 = new_user(iam)
    plays = [{
        'name': 'Rotate IAM keys', 'hosts': 'localhost', 'gather_facts': False,
        'module_defaults': {
            'group/secops.rotation.aws': {'endpoint_url': lab['AWS_ENDPOINT_URL'], 'access_key': lab['AWS_ACCESS_KEY_ID'],
                                          'secret_key': lab['AWS_SECRET_ACCESS_KEY'], 'region': 'us-east-1'},
            'group/secops.rotation.vault': {'url': lab['VAULT_ADDR'], 'token': lab['VAULT_TOKEN']},
        },
        'tasks': [
            {'name': 'Rotate and store', FQCN: {'user_name': name, 'force': True, 'old_key': 'inactive',
                                                'store_path': 'iamrot/{user_name}'},
             'register': 'rotated', 'no_log': True},
            {'name': 'Batch in check mode', FQCN: {'users': [{'user_name': second}, {'user_name': third}], 'force': True},
             'check_mode': True, 'diff': True, 'register': 'predicted'},
            {'name': 'Purge, nothing due yet', FQCN: {'user_name': name, 'state': 'purged'}, 'register': 'purged'},
            {'name': 'Real batch, secrets in every results entry',
             FQCN: {'users': [{'user_name': third}, {'user_name': fourth}], 'force': True},
             'register': 'batch', 'no_log': True},
            {'name': 'Store only, no secret returned, so no no_log needed',
             FQCN: {'user_name': second, 'force': True, 'store_path': 'iamrot/{user_name}', 'return_secret': False},
             'register': 'store_only'},
        ],
    }]
    env = dict((k, v) for k, v in lab.items() if not k.startswith(('AWS_', 'VAULT_')))
    play = run_playbook(plays, env=env, verbosity=4, diff=True, register=['rotated', 'predicted', 'purged', 'store_only', 'batch'])
    assert play.rc == 0, play.output[-3000:]
    rotated = play.results['rotated']
    secret = rotated['secret_access_key']
    assert rotated['changed'] and rotated['verified'] and rotated['stored']['path'] == 'iamrot/%s' % name
    assert len(secret) >= 40 and secret not in play.output
    predicted = play.results['predicted']
    assert predicted['changed'] and [r['user_name'] for r in predicted['results']] == [second, third]
    batch_secrets = [r['secret_access_key'] for r in play.results['batch']['results']]
    assert len(batch_secrets) == 2 and all(len(x) >= 40 and x not in play.output for x in batch_secrets)
    assert play.results['purged']['reason'] == 'waiting'
    assert 'Traceback' not in play.output and '(new key)' in play.output  # the diff is shown
    stored = hvac.Client(url=lab['VAULT_ADDR'], token=lab['VAULT_TOKEN']).secrets.kv.v2.read_secret_version(
        path='iamrot/%s' % name, mount_point='secret', raise_on_deleted_version=True)['data']['data']
    assert stored['secret_access_key'] == secret
    store_only = play.results['store_only']
    assert store_only['changed'] and 'secret_access_key' not in store_only
    assert store_only['access_key_id'] in play.output  # this task's result is printed in full at -vvvv ...
    only_in_vault = hvac.Client(url=lab['VAULT_ADDR'], token=lab['VAULT_TOKEN']).secrets.kv.v2.read_secret_version(
        path='iamrot/%s' % second, mount_point='secret', raise_on_deleted_version=True)['data']['data']['secret_access_key']
    assert len(only_in_vault) >= 40 and only_in_vault not in play.output  # ... but the secret is not in it


def test_playbook_diff_mode_shows_key_ids_and_statuses(iam, lab):
    name, (old,) = new_user(iam)
    plays = [{'name': 'Diff', 'hosts': 'localhost', 'gather_facts': False,
              'module_defaults': {'group/secops.rotation.aws': {'endpoint_url': lab['AWS_ENDPOINT_URL'], 'access_key': 'testing',
                                                                'secret_key': 'testing'}},
              'tasks': [{'name': 'Would rotate', FQCN: {'user_name': name, 'force': True, 'old_key': 'inactive'}}]}]
    play = run_playbook(plays, check=True, diff=True)
    assert play.rc == 0, play.output[-2000:]
    # at verbosity 0 only the diff shows the keys: before A Active; after A Inactive and a new key
    assert 'IAM user %s' % name in play.output and '(new key)' in play.output and '"Inactive"' in play.output
    assert statuses(iam, name) == {old: 'Active'}


# ---- issue 10: no secret in a failure, CreateAccessKey at most once, uncertain store writes, odd times ------

ACCESS_DENIED = ('<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>'
                 '<Code>AccessDenied</Code><Message>User is not authorized to perform: iam:%s</Message></Error>'
                 '<RequestId>4f8e0c4e-0000-4000-8000-000000000000</RequestId></ErrorResponse>')


class FaultyIam:
    """HTTP proxy in front of moto (IAM and STS) with the faults a real AWS account shows.

    * ``refuse``: ``{action: user name}``; that IAM action for that user gets IAM's 403 AccessDenied (a policy that
      denies it), without reaching moto;
    * ``delay``: ``{action: seconds}``; the request reaches moto (the change is made), but the answer is held back
      that long: a client with a shorter read timeout gives up, like a reply lost on the way back.

    ``seen`` counts the requests per action.
    """

    def __init__(self, target, refuse=None, delay=None):
        self.target, self.refuse, self.delay, self.seen = target.rstrip('/'), dict(refuse or {}), dict(delay or {}), {}
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get('Content-Length') or 0))
                form = urllib.parse.parse_qs(body.decode('utf-8', 'replace'))
                action, user = (form.get('Action') or [''])[0], (form.get('UserName') or [''])[0]
                proxy.seen[action] = proxy.seen.get(action, 0) + 1
                if action in proxy.refuse and proxy.refuse[action] == user:
                    return self._answer(403, (ACCESS_DENIED % action).encode(), {'Content-Type': 'text/xml'})
                headers = dict((k, v) for k, v in self.headers.items() if k.lower() not in ('host', 'content-length', 'connection'))
                request = urllib.request.Request(proxy.target + self.path, data=body, method='POST', headers=headers)
                try:
                    with urllib.request.urlopen(request, timeout=30) as answer:
                        status, data, answer_headers = answer.status, answer.read(), dict(answer.headers.items())
                except urllib.error.HTTPError as err:
                    status, data, answer_headers = err.code, err.read(), dict(err.headers.items())
                time.sleep(proxy.delay.get(action, 0))
                return self._answer(status, data, answer_headers)

            def _answer(self, status, data, headers):
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        if key.lower() not in ('content-length', 'connection', 'transfer-encoding', 'server', 'date'):
                            self.send_header(key, value)
                    self.send_header('Content-Length', str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client is gone
                    pass

        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.server.daemon_threads = True
        self.url = 'http://127.0.0.1:%d' % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def faulty_iam(lab):
    proxy = FaultyIam(lab['AWS_ENDPOINT_URL'])
    yield proxy
    proxy.close()


def test_tagging_refused_after_the_new_key_verified_returns_no_secret_and_changes_nothing(iam, env, faulty_iam):
    name, (old,) = new_user(iam)
    faulty_iam.refuse['TagUser'] = name
    before = snapshot(iam, name)
    result = run({'user_name': name, 'force': True, 'old_key': 'inactive', 'endpoint_url': faulty_iam.url}, env)
    assert result.get('failed') and 'AccessDenied: User is not authorized to perform: iam:TagUser' in result['msg'], result['msg']
    assert faulty_iam.seen.get('GetCallerIdentity')  # refused after the new key verified
    assert 'secret_access_key' not in result.stdout and 'secret_access_key' not in json.dumps(result)
    new = result['rolled_back_key_id']
    assert new and ('the new key %s was deleted again' % new) in result['msg']
    assert ('the old key %s is still Active' % old) in result['msg']
    assert snapshot(iam, name) == before


def test_failed_batch_prints_no_secret_even_without_no_log(iam, lab, faulty_iam):
    good, (good_old,) = new_user(iam)
    bad, (bad_old,) = new_user(iam)
    faulty_iam.refuse['TagUser'] = bad
    before = snapshot(iam, good), snapshot(iam, bad)
    plays = [{
        'name': 'A batch whose second user fails', 'hosts': 'localhost', 'gather_facts': False,
        'module_defaults': {'group/secops.rotation.aws': {'endpoint_url': faulty_iam.url, 'access_key': lab['AWS_ACCESS_KEY_ID'],
                                                          'secret_key': lab['AWS_SECRET_ACCESS_KEY'], 'region': 'us-east-1'}},
        'tasks': [{'name': 'Rotate without no_log (a mistake the module must survive)',
                   FQCN: {'users': [{'user_name': good}, {'user_name': bad}], 'force': True, 'old_key': 'inactive'},
                   'register': 'batch', 'ignore_errors': True}],
    }]
    env = dict((k, v) for k, v in lab.items() if not k.startswith(('AWS_', 'VAULT_')))
    play = run_playbook(plays, env=env, verbosity=4, register=['batch'])
    assert play.rc == 0, play.output[-3000:]
    batch = play.results['batch']
    assert batch['failed'] and batch['msg'].startswith('1 of 2 users failed: %s: ' % bad), batch['msg']
    assert 'rolled back %s' % good in batch['msg']
    assert 'secret_access_key' not in play.output and 'secret_access_key' not in json.dumps(batch)
    first = batch['results'][0]
    assert first['reason'] == 'rolled_back' and ('the new key %s was deleted again' % first['rolled_back_key_id']) in first['msg']
    assert (snapshot(iam, good), snapshot(iam, bad)) == before


def test_create_access_key_whose_reply_is_lost_is_sent_once_and_the_key_it_created_deleted(iam, env, faulty_iam):
    name, (old,) = new_user(iam)
    before = snapshot(iam, name)
    # aws_timeout 1s: the client gives up on CreateAccessKey before moto's answer (held 2.5s by the proxy) arrives.
    faulty_iam.delay['CreateAccessKey'] = 2.5
    result = run({'user_name': name, 'force': True, 'endpoint_url': faulty_iam.url, 'aws_timeout': 1}, env)
    assert result.get('failed') and 'creating an access key for %s failed: AWS endpoint' % name in result['msg'], result['msg']
    assert 'timed out' in result['msg']
    assert faulty_iam.seen['CreateAccessKey'] == 1  # not retried by botocore: a retry would create a second key
    found = re.search(r'the request created key (\w+) anyway; its secret was lost with the reply, so it was deleted again', result['msg'])
    assert found and found.group(1) != old, result['msg']
    assert 'secret_access_key' not in result.stdout
    assert snapshot(iam, name) == before  # no orphan Active key left behind to block the next rotation
    again = run({'user_name': name, 'force': True}, env)  # and the next rotation works
    assert again['changed'] and not again.get('failed'), again['msg']


def test_store_write_whose_reply_is_lost_counts_as_stored_on_openbao(iam, lab, vault_admin):
    name, (old,) = new_user(iam)
    path = 'iamrot-lost/%s' % name
    params = rotator_for(lab, user_name=name, force=True, store_path='iamrot-lost/{user_name}', old_key='inactive')
    client, opts = get_vault_connection(params)
    kv = client.secrets.kv.v2
    write = kv.create_or_update_secret

    def write_then_lose_the_reply(**kwargs):  # OpenBao stores it; the answer never reaches the module
        write(**kwargs)
        raise requests.exceptions.ReadTimeout('Read timed out. (read timeout=30)')

    kv.create_or_update_secret = write_then_lose_the_reply
    warnings = []
    result = IamKeyRotator(params, warn=warnings.append, vault=(client, opts)).run()
    assert not result.get('failed'), result['msg']
    new = result['access_key_id']
    assert result['stored'] == {'mount': 'secret', 'path': path, 'version': 1}
    assert statuses(iam, name) == {old: 'Inactive', new: 'Active'}
    stored = vault_admin.secrets.kv.v2.read_secret_version(path=path, mount_point='secret', raise_on_deleted_version=True)['data']
    assert stored['data']['access_key_id'] == new and stored['data']['secret_access_key'] == result['secret_access_key']
    assert [w for w in warnings if 'did not answer' in w and 're-reading it shows version 1 with the new key %s' % new in w]


@pytest.mark.parametrize('value', ['0001-01-01T00:00:00+01:00', '9999-12-31T23:59:59Z'])
def test_hand_edited_deactivation_tags_fail_nothing_and_change_nothing_unexpected(iam, env, value):
    name, active, inactive = _active_and_inactive(iam, value)
    before = snapshot(iam, name)
    # rotation: the Inactive key has no readable record, so it may not be deleted to make room
    rotate = run({'user_name': name, 'force': True}, env)
    assert rotate.get('failed') and '%s (Inactive): its deactivation time is not recorded' % inactive in rotate['msg'], rotate['msg']
    assert [w for w in rotate.get('warnings', []) if inactive in str(w) and 'it is ignored' in str(w)], rotate
    assert snapshot(iam, name) == before
    # purge: records the deactivation time now (the grace period starts), like for a key deactivated by hand
    check = run({'user_name': name, 'state': 'purged'}, env, check=True)
    assert check['changed'] and check['recorded_key_ids'] == [inactive] and snapshot(iam, name) == before
    purged = run({'user_name': name, 'state': 'purged'}, env)
    assert purged['recorded_key_ids'] == [inactive] and purged['deleted_key_ids'] == []
    recorded = tags_of(iam, name)[TAG + inactive]
    assert recorded != value and abs((datetime.datetime.strptime(recorded, '%Y-%m-%dT%H:%M:%SZ').replace(
        tzinfo=datetime.timezone.utc) - utcnow()).total_seconds()) < 60
