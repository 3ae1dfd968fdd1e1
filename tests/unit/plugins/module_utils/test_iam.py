# Copyright (c) 2026 secops.rotation contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of module_utils/_iam: due-ness, quota pre-flight, purge eligibility, backoff, tags, input checks."""


import ast
import datetime

import botocore.exceptions
import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.secops.rotation.plugins.module_utils import _iam
from ansible_collections.secops.rotation.plugins.module_utils._common import RotationError
from ansible_collections.secops.rotation.plugins.module_utils._duration import DurationError
from ansible_collections.secops.rotation.plugins.module_utils._iam import argument_spec

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
DAY = 86400


def ago(seconds):
    return NOW - datetime.timedelta(seconds=seconds)


def key(key_id, status='Active', created=None, last_used=None, deactivated_at=None):
    return dict(id=key_id, status=status, created=created or ago(10 * DAY), last_used=last_used, deactivated_at=deactivated_at)


# ---- backoff ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize('timeout, expected', [
    (3, [0.5, 1.0, 1.5]),
    (1, [0.5, 0.5]),
    (0.5, [0.5]),
    (20, [0.5, 1.0, 2.0, 4.0, 8.0, 4.5]),
    (60, [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 4.5]),
])
def test_backoff_schedule_is_exponential_capped_and_bounded(timeout, expected):
    delays = _iam.verify_delays(timeout)
    assert delays == expected
    assert sum(delays) == pytest.approx(timeout)
    assert max(delays) <= _iam.BACKOFF_CAP


def test_backoff_of_a_long_timeout_is_capped_at_8s_apart():
    delays = _iam.verify_delays(600)
    assert sum(delays) == pytest.approx(600) and max(delays) == 8.0 and len(delays) < 80


# ---- tags -------------------------------------------------------------------------------------------------

def test_parse_tags_reads_ours_ignores_others_and_reports_garbage():
    tags = [{'Key': 'secops-rotation:deactivated:AKIAAAAAAAAAAAAAAAAA', 'Value': '2026-11-25T10:00:00Z'},
            {'Key': 'secops-rotation:deactivated:AKIABBBBBBBBBBBBBBBB', 'Value': 'yesterday'},
            {'Key': 'team', 'Value': 'billing'}]
    recorded, invalid = _iam.parse_tags(tags)
    assert recorded == {'AKIAAAAAAAAAAAAAAAAA': datetime.datetime(2026, 11, 25, 10, 0, tzinfo=UTC)}
    assert invalid == ['AKIABBBBBBBBBBBBBBBB']
    assert _iam.parse_tags(None) == ({}, [])


def test_tag_key_is_a_valid_iam_tag_key():
    tag = _iam.tag_key('A' * 128)
    assert tag.startswith('secops-rotation:deactivated:') and len(_iam.tag_key('AKIAIOSFODNN7EXAMPLE')) <= 128


# ---- time options -----------------------------------------------------------------------------------------

@pytest.mark.parametrize('value, expected', [
    ('2026-11-26T10:00:00Z', datetime.datetime(2026, 11, 26, 10, 0, tzinfo=UTC)),
    ('2026-11-26T11:00:00+01:00', datetime.datetime(2026, 11, 26, 10, 0, tzinfo=UTC)),
    ('2h', ago(7200)),
    ('15m', ago(900)),
    ('0', NOW),
    (None, None),
])
def test_parse_time_option(value, expected):
    assert _iam.parse_time_option(value, 'cutover', NOW) == expected


@pytest.mark.parametrize('value', ['yesterday', '2026-13-40T00:00:00Z', '-1h', '1.5h'])
def test_parse_time_option_rejects(value):
    with pytest.raises(RotationError, match='cutover: invalid time'):
        _iam.parse_time_option(value, 'cutover', NOW)


# ---- decisions --------------------------------------------------------------------------------------------

def test_rotation_due_reasons():
    assert _iam.rotation_due([], NOW, 90 * DAY) == (True, 'missing', None)
    assert _iam.rotation_due([key('A', 'Inactive')], NOW, 90 * DAY)[:2] == (True, 'missing')
    young = key('A', created=ago(10 * DAY))
    assert _iam.rotation_due([young], NOW, 90 * DAY) == (False, 'not_due', young)
    assert _iam.rotation_due([young], NOW, 90 * DAY, force=True) == (True, 'forced', young)
    assert _iam.rotation_due([young], NOW, 10 * DAY) == (True, 'age', young)  # exactly max_age is due


def test_rotation_due_looks_at_the_newest_active_key_only():
    old, new = key('OLD', created=ago(200 * DAY)), key('NEW', created=ago(DAY))
    assert _iam.rotation_due([old, new], NOW, 90 * DAY)[:2] == (False, 'not_due')
    newer_inactive = key('NEWER', 'Inactive', created=ago(60))
    assert _iam.rotation_due([old, newer_inactive], NOW, 90 * DAY)[1:] == ('age', old)


def test_purge_check():
    grace = DAY
    assert _iam.purge_check(key('A'), NOW, grace)[0:2] == (False, 'it is Active')
    ok, why, dummy = _iam.purge_check(key('A', 'Inactive'), NOW, grace)
    assert not ok and 'not recorded' in why
    ok, why, after = _iam.purge_check(key('A', 'Inactive', deactivated_at=ago(3600)), NOW, grace)
    assert not ok and 'grace period of 1d ends at 2026-11-27T11:00:00Z' in why and after == ago(3600 - DAY)
    ok, why, dummy = _iam.purge_check(key('A', 'Inactive', deactivated_at=ago(2 * DAY), last_used=ago(DAY)), NOW, grace)
    assert not ok and 'used at 2026-11-25T12:00:00Z, after its deactivation at 2026-11-24T12:00:00Z' in why
    ok, dummy, dummy = _iam.purge_check(key('A', 'Inactive', deactivated_at=ago(2 * DAY), last_used=ago(3 * DAY)), NOW, grace)
    assert ok
    assert _iam.purge_check(key('A', 'Inactive', deactivated_at=ago(2 * DAY)), NOW, grace)[0]


def test_last_use_in_the_same_second_as_the_deactivation_is_not_after_it():
    deactivated = ago(2 * DAY)
    same_second = deactivated + datetime.timedelta(microseconds=700000)
    assert not _iam.used_after(key('A', last_used=same_second), deactivated)
    assert _iam.used_after(key('A', last_used=deactivated + datetime.timedelta(seconds=1)), deactivated)
    assert not _iam.used_after(key('A'), deactivated)
    assert not _iam.used_after(key('A', last_used=NOW), None)


def test_plan_room_with_a_free_slot_deletes_nothing():
    assert _iam.plan_room([], NOW, DAY) == []
    assert _iam.plan_room([key('A')], NOW, DAY) == []


def test_plan_room_never_deletes_an_active_key():
    with pytest.raises(RotationError) as err:
        _iam.plan_room([key('AKIA1111'), key('AKIA2222')], NOW, DAY)
    text = str(err.value)
    assert 'AKIA1111 (Active): it is Active' in text and 'AKIA2222 (Active): it is Active' in text
    assert 'an Active key is never deleted to make room' in text


def test_plan_room_deletes_an_expired_unused_inactive_key():
    expired = key('OLD', 'Inactive', deactivated_at=ago(2 * DAY))
    assert _iam.plan_room([key('A'), expired], NOW, DAY) == [expired]


@pytest.mark.parametrize('inactive, why', [
    (key('OLD', 'Inactive', deactivated_at=ago(3600)), 'grace period of 1d ends'),
    (key('OLD', 'Inactive', deactivated_at=ago(2 * DAY), last_used=ago(60)), 'after its deactivation'),
    (key('OLD', 'Inactive'), 'not recorded'),
])
def test_plan_room_refuses_and_names_the_keys(inactive, why):
    with pytest.raises(RotationError) as err:
        _iam.plan_room([key('ACTIVE1'), inactive], NOW, DAY)
    assert 'OLD (Inactive): ' in str(err.value) and why in str(err.value) and 'ACTIVE1 (Active)' in str(err.value)


def test_plan_room_with_two_inactive_keys_deletes_the_one_that_may_go():
    waiting = key('WAIT', 'Inactive', deactivated_at=ago(60))
    expired = key('GONE', 'Inactive', deactivated_at=ago(5 * DAY))
    assert _iam.plan_room([waiting, expired], NOW, DAY) == [expired]


# ---- the rotator, without AWS -----------------------------------------------------------------------------

def params(**kwargs):
    base = dict(state='rotated', user_name='svc-a', users=None, max_age='90d', force=False, old_key=None, key_ids=None,
                cutover=None, grace_period='24h', verify=True, verify_timeout='60s', sts_endpoint_url=None, store_path=None,
                store_mount='secret', return_secret=True, now=None)
    base.update(kwargs)
    return base


@pytest.mark.parametrize('kwargs, message', [
    (dict(max_age='90x'), "max_age: invalid duration '90x'"),
    (dict(max_age=0), 'max_age: invalid duration 0: must be greater than zero'),
    (dict(grace_period='-1h'), "grace_period: invalid duration '-1h'"),
    (dict(verify_timeout='soon'), "verify_timeout: invalid duration 'soon'"),
    (dict(old_key='inactive', state='purged'), 'old_key is only used with state=rotated, not state=purged'),
    (dict(cutover='1h'), 'cutover is only used with state=deactivated, not state=rotated'),
    (dict(key_ids=['AKIAIOSFODNN7EXAMPLE']), 'key_ids is only used with state=deactivated or state=purged'),
    (dict(state='deactivated', key_ids=['not-a-key']), "invalid access key id 'not-a-key' in key_ids"),
    (dict(state='deactivated', cutover='yesterday'), "cutover: invalid time 'yesterday'"),
    (dict(state='purged', force=True), 'force is not supported with state=purged'),
    (dict(user_name='bad name!'), "user_name: invalid IAM user name 'bad name!'"),
    (dict(user_name='b\u00fcro'), "user_name: invalid IAM user name 'b\u00fcro'"),  # IAM names are ASCII
    (dict(user_name='svc-a\n'), "user_name: invalid IAM user name 'svc-a\\n'"),
    (dict(state='deactivated', key_ids=['AKIAIOSFODNN7EXAMPLE\n']), "invalid access key id 'AKIAIOSFODNN7EXAMPLE\\n'"),
    (dict(verify_timeout='2h'), 'verify_timeout: 2h is longer than the maximum of 1h'),
    (dict(store_path='aws/x', store_mount='  '), "invalid store_mount '  '"),
    (dict(store_path='aws/x', store_mount='team//kv'), "invalid store_mount 'team//kv'"),
    (dict(now='tomorrow'), "now: invalid time 'tomorrow'"),
    (dict(sts_endpoint_url='ftp://sts'), "invalid sts_endpoint_url 'ftp://sts'"),
    (dict(sts_endpoint_url='http://[sts'), "invalid sts_endpoint_url 'http://[sts'"),  # urlsplit: Invalid IPv6 URL
    (dict(sts_endpoint_url='http://sts_1.example'), "invalid sts_endpoint_url 'http://sts_1.example'"),
    (dict(store_path='a//b'), "invalid store_path 'a//b'"),
    (dict(user_name=None, users=[{'user_name': 'a'}, {'user_name': 'a'}]), 'users[1] (a): user a is given more than once'),
    (dict(user_name=None, users=[{'user_name': 'a'}, {'user_name': 'b'}], store_path='aws/shared'),
     'store_path aws/shared is used for both a and b'),
    (dict(user_name=None, users=[{'user_name': 'a'}, {'user_name': 'b', 'max_age': '1y'}]), "users[1] (b): max_age: invalid duration '1y'"),
])
def test_validate_rejects_bad_input_before_any_call(kwargs, message):
    rotator = _iam.IamKeyRotator(params(**kwargs), aws=object())
    with pytest.raises((RotationError, DurationError)) as err:
        rotator.validate()
    assert message in str(err.value)


def test_a_batch_names_every_bad_user_and_changes_nothing():
    rotator = _iam.IamKeyRotator(params(user_name=None, users=[{'user_name': 'a', 'max_age': '1y'}, {'user_name': 'b'},
                                                               {'user_name': 'c', 'grace_period': 'soon'}]), aws=object())
    with pytest.raises(RotationError) as err:
        rotator.validate()
    text = str(err.value)
    assert text.startswith("users[0] (a): max_age: invalid duration '1y'") and text.endswith(' - nothing was changed')
    assert "; users[2] (c): grace_period: invalid duration 'soon'" in text and 'users[1]' not in text


@pytest.mark.parametrize('options, message', [
    (dict(user_name='a', state='gone'), 'value of state must be one of: rotated, deactivated, purged, got: gone'),
    (dict(user_name='a', old_key='archived'), 'value of old_key must be one of: active, inactive, deleted, got: archived'),
    (dict(), 'one of the following is required: user_name, users'),
    (dict(user_name='a', users=[{'user_name': 'b'}]), 'parameters are mutually exclusive: user_name|users'),
    (dict(users=[{'max_age': '1d'}]), 'missing required arguments: user_name found in users'),
])
def test_the_spec_checks_choices_and_which_options_go_together(options, message):
    # what the argument spec (AnsibleModule) checks, IamKeyRotator does not check again
    validator = ArgumentSpecValidator(argument_spec(), mutually_exclusive=_iam.MUTUALLY_EXCLUSIVE, required_one_of=_iam.REQUIRED_ONE_OF)
    assert message in ' '.join(validator.validate(options).error_messages)


def test_an_empty_users_list_is_refused_clearly():
    # users: [] satisfies the spec's required_one_of, so the rotator says what is missing
    with pytest.raises(RotationError, match='^one of user_name or users is required'):
        _iam.IamKeyRotator(params(user_name=None, users=[]), aws=object()).validate()


@pytest.mark.parametrize('options, message', [
    (dict(user_name='a', state='gone'), "state must be one of rotated, deactivated, purged, got 'gone'"),
    (dict(user_name=None, users=[{'user_name': 'a', 'old_key': 'archived'}]),
     "users[0] (a): old_key must be one of active, inactive, deleted, got 'archived'"),
])
def test_the_rotator_built_without_the_module_refuses_a_choice_the_spec_does_not_allow(options, message):
    # scripts, tests and the lab build the rotator without AnsibleModule: a clean error, not a KeyError later
    with pytest.raises(RotationError) as err:
        _iam.IamKeyRotator(params(**options), aws=object()).validate()
    assert message in str(err.value)


def test_defaults_are_the_specs():
    spec = argument_spec()
    assert (spec['max_age']['default'], spec['grace_period']['default'], spec['verify_timeout']['default']) == ('90d', '24h', '60s')
    assert 'default' not in spec['users']['options']['max_age']  # an item falls back to the task's value
    assert 'default' not in spec['old_key']  # see _iam.OLD_KEY_UNSET: refused with other states, so "not set" must show
    assert _iam.ITEM_KEYS == tuple(spec['users']['options'])
    rotator = _iam.IamKeyRotator(dict(user_name='svc-a'), aws=object())
    item, = rotator.validate()
    assert (item['_max_age'], item['_grace'], item['old_key'], rotator.verify_timeout) == (90 * DAY, DAY, 'active', 60)
    assert (rotator.params['verify'], rotator.params['return_secret'], rotator.params['aws_timeout']) == (True, True, 30)


def test_validate_expands_a_batch_with_top_level_fallbacks_and_user_paths():
    rotator = _iam.IamKeyRotator(params(user_name=None, users=[{'user_name': 'a'}, {'user_name': 'b', 'old_key': 'deleted'}],
                                        old_key='inactive', store_path='aws/{user_name}', url='http://vault.example:8200',
                                        token='t'), aws=object())
    items = rotator.validate()
    assert [(i['user_name'], i['old_key'], i['store']['path']) for i in items] == [('a', 'inactive', 'aws/a'), ('b', 'deleted', 'aws/b')]
    assert items[0]['_max_age'] == 90 * DAY and items[0]['_grace'] == DAY


def test_duplicate_key_ids_are_handled_once_in_the_order_given():
    key_ids = ['AKIABBBBBBBBBBBBBBBB', 'AKIAAAAAAAAAAAAAAAAA', 'AKIABBBBBBBBBBBBBBBB']
    rotator = _iam.IamKeyRotator(params(state='deactivated', key_ids=key_ids, cutover='1h'), aws=object())
    assert rotator.validate()[0]['key_ids'] == ['AKIABBBBBBBBBBBBBBBB', 'AKIAAAAAAAAAAAAAAAAA']


def test_store_mount_is_normalised():
    rotator = _iam.IamKeyRotator(params(store_path='/aws/{user_name}/', store_mount=' /team/kv/ ', url='http://vault.example',
                                        token='t'), aws=object())
    assert rotator.validate()[0]['store'] == {'mount': 'team/kv', 'path': 'aws/svc-a'}


def test_vault_options_are_checked_only_with_a_store():
    # No Vault address anywhere: fine without store_path, a clear error with it.
    _iam.IamKeyRotator(params(url=None), aws=object()).validate()
    with pytest.raises(Exception, match="invalid Vault url 'vault.example'"):
        _iam.IamKeyRotator(params(store_path='aws/x', url='vault.example', token='t'), aws=object()).validate()


def test_the_clock_option_sets_now():
    rotator = _iam.IamKeyRotator(params(now='2030-01-01T00:00:00Z'), check_mode=True, aws=object())
    rotator.validate()
    assert rotator.now == datetime.datetime(2030, 1, 1, tzinfo=UTC)


def sts_refusal(code):
    """What STS raises for a key IAM has not propagated yet: a botocore ClientError."""
    return botocore.exceptions.ClientError({'Error': {'Code': code, 'Message': 'not yet'}, 'ResponseMetadata': {'HTTPStatusCode': 403}},
                                           'GetCallerIdentity')


class FakeSts:
    def __init__(self, answers):
        self.answers = list(answers)
        self.calls = 0

    def get_caller_identity(self):
        self.calls += 1
        answer = self.answers.pop(0) if self.answers else self.last
        self.last = answer
        if isinstance(answer, Exception):
            raise answer
        return {'Arn': answer}


class FakeAws:
    def __init__(self, sts):
        self.sts = sts
        self.endpoint = 'unset'

    def client_for_keys(self, service, access_key, secret_key, endpoint_url=None, timeout=None, single_attempt=False):
        assert service == 'sts'
        self.endpoint, self.timeout, self.single_attempt = endpoint_url, timeout, single_attempt
        return self.sts


class FakeClock:
    def __init__(self):
        self.t = 100.0
        self.slept = []

    def monotonic(self):
        return self.t

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.t += seconds


ARN = 'arn:aws:iam::123456789012:user/svc-a'


def make_verifier(answers, timeout='3s', **kwargs):
    sts, clock = FakeSts(answers), FakeClock()
    rotator = _iam.IamKeyRotator(params(verify_timeout=timeout, **kwargs), aws=FakeAws(sts), sleep=clock.sleep, monotonic=clock.monotonic)
    rotator.validate()
    return rotator, sts, clock


def test_verify_retries_with_backoff_until_iam_has_propagated():
    rotator, sts, clock = make_verifier([sts_refusal('InvalidClientTokenId'), sts_refusal('InvalidClientTokenId'), ARN], timeout='60s',
                                        sts_endpoint_url='http://sts.example:1')
    attempts, seconds = rotator.verify_key('svc-a', ARN, 'AKIANEW', 'SECRET')
    assert (attempts, clock.slept, seconds) == (3, [0.5, 1.0], 1.5)
    assert rotator.aws.endpoint == 'http://sts.example:1'
    # botocore sends each call once (the backoff is ours), each bounded by min(aws_timeout, verify_timeout)
    assert (rotator.aws.timeout, rotator.aws.single_attempt) == (30, True)


def test_verify_gives_up_at_the_timeout_and_names_the_last_problem():
    rotator, sts, clock = make_verifier([sts_refusal('InvalidClientTokenId')], timeout='3s')
    with pytest.raises(RotationError) as err:
        rotator.verify_key('svc-a', ARN, 'AKIANEW', 'SECRET')
    assert clock.slept == [0.5, 1.0, 1.5] and sts.calls == 4
    assert str(err.value) == ('the new access key AKIANEW of svc-a did not verify within 3s (4 attempts): '
                              'STS GetCallerIdentity failed: InvalidClientTokenId: not yet')
    assert 'SECRET' not in str(err.value)


def test_verify_insists_on_the_users_arn():
    rotator, dummy, dummy = make_verifier(['arn:aws:sts::123456789012:user/moto'], timeout='1s')
    with pytest.raises(RotationError, match='STS answered with arn:aws:sts::123456789012:user/moto instead of ' + ARN):
        rotator.verify_key('svc-a', ARN, 'AKIANEW', 'SECRET')


def test_an_sts_endpoint_botocore_refuses_is_a_clear_error():
    class RefusingAws:
        def client_for_keys(self, *args, **kwargs):
            raise ValueError('Invalid endpoint: http://sts_1.example')

    rotator = _iam.IamKeyRotator(params(), aws=RefusingAws())
    rotator.validate()
    with pytest.raises(RotationError, match='cannot create the STS client to verify the new access key AKIANEW of svc-a: Invalid endpoint'):
        rotator.verify_key('svc-a', ARN, 'AKIANEW', 'SECRET')


def test_iam_leaves_aws_details_to_aws():
    """_iam imports neither boto3 nor botocore: clients, their configuration and error classes are _aws's."""
    with open(_iam.__file__, encoding='utf-8') as handle:
        tree = ast.parse(handle.read())
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    imported += [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module]
    assert not [name for name in imported if name.split('.')[0] in ('boto3', 'botocore')]
    assert '__module__' not in ast.unparse(tree)


@pytest.mark.parametrize('url', ['http://127.0.0.1:4566', 'https://sts.eu-west-1.amazonaws.com', 'http://[::1]:5000/', 'http://localhost'])
def test_valid_endpoint_urls(url):
    assert _iam.valid_endpoint_url(url)


def test_verify_does_not_hide_bugs():
    rotator, dummy, dummy = make_verifier([ZeroDivisionError()], timeout='1s')
    with pytest.raises(ZeroDivisionError):
        rotator.verify_key('svc-a', ARN, 'AKIANEW', 'SECRET')


# ---- the argument spec ------------------------------------------------------------------------------------

def test_no_option_or_alias_clashes_between_module_aws_and_vault_options():
    spec = argument_spec()
    names = []
    for name, option in spec.items():
        names.append(name)
        names.extend(option.get('aliases', []))
    assert len(names) == len(set(names))
    for name in ('user_name', 'verify_timeout', 'sts_endpoint_url', 'store_path', 'endpoint_url', 'url', 'token', 'timeout', 'username'):
        assert name in spec
    # secret options are no_log; the vault ones only matter with store_path (none is required)
    assert spec['secret_key']['no_log'] and spec['token']['no_log'] and spec['password']['no_log']
    assert not [name for name, option in spec.items() if option.get('required')]


# ---- the rotator against an in-memory IAM (issue 10: secrets in failures, retries, uncertain writes, input) ----

import json  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.secops.rotation.plugins.module_utils._vault import (  # noqa: E402  pylint: disable=wrong-import-position
    KvConflictError, VaultClientError)


def client_error(code, status, operation):
    return botocore.exceptions.ClientError({'Error': {'Code': code, 'Message': '%s (fake)' % code},
                                            'ResponseMetadata': {'HTTPStatusCode': status}}, operation)


def read_timeout():
    return botocore.exceptions.ReadTimeoutError(endpoint_url='https://iam.amazonaws.com/')


class FakeIam:
    """An in-memory IAM with the calls the rotator makes. ``before[op]``/``after[op]``: ``f(**kwargs)`` run before/after
    the operation (raise from it to simulate a refusal, or a reply lost after the change was made)."""

    def __init__(self):
        self.users = {}
        self.calls = []
        self.before = {}
        self.after = {}
        self.count = 0

    def add_user(self, name, keys=1, tags=None):
        self.users[name] = dict(arn='arn:aws:iam::123456789012:user/%s' % name, keys=[], tags=dict(tags or {}))
        return [self._new_key(name)['AccessKeyId'] for dummy in range(keys)]

    def _new_key(self, name):
        self.count += 1
        key = dict(AccessKeyId='AKIAFAKE%012d' % self.count, Status='Active', UserName=name,
                   CreateDate=datetime.datetime(2020, 1, 1, tzinfo=UTC) + datetime.timedelta(minutes=self.count),
                   SecretAccessKey='fake-secret-%04d-%s' % (self.count, 'S' * 30), last_used=None)
        self.users[name]['keys'].append(key)
        return key

    def _op(self, op, kwargs, action):
        self.calls.append((op, dict(kwargs)))
        if op in self.before:
            self.before[op](**kwargs)
        result = action()
        if op in self.after:
            self.after[op](**kwargs)
        return result

    def _user(self, name, op):
        if name not in self.users:
            raise client_error('NoSuchEntity', 404, op)
        return self.users[name]

    def _key(self, name, key_id, op):
        for key in self._user(name, op)['keys']:
            if key['AccessKeyId'] == key_id:
                return key
        raise client_error('NoSuchEntity', 404, op)

    def get_user(self, UserName):
        return self._op('get_user', dict(UserName=UserName),
                        lambda: {'User': {'UserName': UserName, 'Arn': self._user(UserName, 'GetUser')['arn']}})

    def list_access_keys(self, UserName):
        return self._op('list_access_keys', dict(UserName=UserName), lambda: {'AccessKeyMetadata': [
            dict((k, v) for k, v in key.items() if k in ('AccessKeyId', 'Status', 'UserName', 'CreateDate'))
            for key in self._user(UserName, 'ListAccessKeys')['keys']]})

    def get_access_key_last_used(self, AccessKeyId):
        def action():
            for user in self.users.values():
                for key in user['keys']:
                    if key['AccessKeyId'] == AccessKeyId:
                        used = {'ServiceName': 'N/A', 'Region': 'N/A'}
                        if key['last_used']:
                            used['LastUsedDate'] = key['last_used']
                        return {'AccessKeyLastUsed': used}
            raise client_error('NoSuchEntity', 404, 'GetAccessKeyLastUsed')
        return self._op('get_access_key_last_used', dict(AccessKeyId=AccessKeyId), action)

    def get_paginator(self, name):
        assert name == 'list_user_tags'
        fake = self

        class Paginator:
            def paginate(self, UserName):
                tags = fake._op('list_user_tags', dict(UserName=UserName), lambda: fake._user(UserName, 'ListUserTags')['tags'])
                return [{'Tags': [{'Key': k, 'Value': v} for k, v in tags.items()]}]
        return Paginator()

    def create_access_key(self, UserName):
        def action():
            user = self._user(UserName, 'CreateAccessKey')
            if len(user['keys']) >= 2:
                raise client_error('LimitExceeded', 409, 'CreateAccessKey')
            key = self._new_key(UserName)
            return {'AccessKey': dict((k, v) for k, v in key.items() if k != 'last_used')}
        return self._op('create_access_key', dict(UserName=UserName), action)

    def delete_access_key(self, UserName, AccessKeyId):
        def action():
            key = self._key(UserName, AccessKeyId, 'DeleteAccessKey')
            self.users[UserName]['keys'].remove(key)
            return {}
        return self._op('delete_access_key', dict(UserName=UserName, AccessKeyId=AccessKeyId), action)

    def update_access_key(self, UserName, AccessKeyId, Status):
        def action():
            self._key(UserName, AccessKeyId, 'UpdateAccessKey')['Status'] = Status
            return {}
        return self._op('update_access_key', dict(UserName=UserName, AccessKeyId=AccessKeyId, Status=Status), action)

    def tag_user(self, UserName, Tags):
        def action():
            tags = self._user(UserName, 'TagUser')['tags']
            for tag in Tags:
                tags[tag['Key']] = tag['Value']
            if len(tags) > 50:
                for tag in Tags:
                    tags.pop(tag['Key'])
                raise client_error('LimitExceeded', 409, 'TagUser')
            return {}
        return self._op('tag_user', dict(UserName=UserName, Tags=Tags), action)

    def untag_user(self, UserName, TagKeys):
        def action():
            for key in TagKeys:
                self._user(UserName, 'UntagUser')['tags'].pop(key, None)
            return {}
        return self._op('untag_user', dict(UserName=UserName, TagKeys=TagKeys), action)

    def state(self, name):
        """What the rotator may change: keys with status, and tags."""
        user = self.users[name]
        return sorted((k['AccessKeyId'], k['Status']) for k in user['keys']), dict(user['tags'])

    def secrets(self):
        return [key['SecretAccessKey'] for user in self.users.values() for key in user['keys']] + list(self.deleted_secrets)

    deleted_secrets = ()


class RetryingClient:
    """What botocore's standard retry mode does with a read timeout: send the same request again (up to 5 attempts)."""

    def __init__(self, client, attempts=5):
        self.client, self.attempts = client, attempts

    def __getattr__(self, name):
        method = getattr(self.client, name)
        if name == 'get_paginator':
            return method

        def call(**kwargs):
            for attempt in range(self.attempts):
                try:
                    return method(**kwargs)
                except (botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectionClosedError):
                    if attempt == self.attempts - 1:
                        raise
        return call


class KeySts:
    """STS GetCallerIdentity signed by a key of the fake IAM: the owner's ARN while the key exists and is Active."""

    def __init__(self, iam, key_id, secret):
        self.iam, self.key_id, self.secret = iam, key_id, secret

    def get_caller_identity(self):
        for user in self.iam.users.values():
            for key in user['keys']:
                if key['AccessKeyId'] == self.key_id and key['SecretAccessKey'] == self.secret and key['Status'] == 'Active':
                    return {'Arn': user['arn']}
        raise client_error('InvalidClientTokenId', 403, 'GetCallerIdentity')


class FakeAwsIam:
    """The AwsConnection surface: ``client`` retries like botocore, ``client_once`` sends each call once."""

    def __init__(self, iam, sts=None):
        self.fake_iam, self.sts = iam, sts
        self.retrying = RetryingClient(iam)

    def client(self, service, endpoint_url=None, config=None):
        assert service == 'iam'
        return self.retrying

    def client_once(self, service, endpoint_url=None):
        assert service == 'iam'
        return self.fake_iam

    def client_for_keys(self, service, access_key, secret_key, endpoint_url=None, timeout=None, single_attempt=False):
        assert service == 'sts'
        return self.sts or KeySts(self.fake_iam, access_key, secret_key)


def vault_timeout(action, path):
    """What KvV2 raises when Vault's answer does not come back: the request may have been carried out."""
    error = VaultClientError('Vault at http://vault.example:8200 did not answer within 30s while %s KV v2 secret secret/%s' % (action, path))
    error.uncertain = True
    return error


class FakeKv:
    """The KvV2 surface the store uses; ``fail_write``: 'before' (nothing stored) or 'after' (stored, reply lost)."""

    def __init__(self):
        self.versions = []
        self.fail_write = None
        self.fail_read = False
        self.other_writer = None

    def check_mount(self):
        pass

    def current_version(self, path):
        return len(self.versions)

    def read(self, path):
        if self.fail_read:
            raise vault_timeout('reading', path)
        return (dict(self.versions[-1]) if self.versions else None), len(self.versions)

    def write(self, path, data, cas):
        if cas != len(self.versions):
            raise KvConflictError('KV v2 secret secret/%s changed after it was read at version %d (check-and-set failed)' % (path, cas))
        if self.fail_write == 'before':
            raise vault_timeout('writing', path)
        self.versions.append(dict(data))
        if self.other_writer:
            self.versions.append(dict(self.other_writer))
        if self.fail_write == 'after':
            raise vault_timeout('writing', path)
        return len(self.versions)


def fake_rotator(iam, kv=None, check_mode=False, **kwargs):
    options = dict(force=True, verify_timeout='2s')
    options.update(kwargs)
    warned = []
    rotator = _iam.IamKeyRotator(params(**options), check_mode=check_mode, warn=warned.append, aws=FakeAwsIam(iam),
                                 vault=object() if kv is not None else None, sleep=lambda s: None)
    rotator.warned = warned  # what went to module.warn
    if kv is not None:
        rotator._kv = lambda item: kv
    return rotator


def no_secret_in(result, iam):
    text = json.dumps(result, default=str)
    assert 'secret_access_key' not in text
    for secret in iam.secrets():
        assert secret not in text


# -- item 2: a failure result never holds a secret --

def test_tagging_denied_after_the_new_key_verified_returns_no_secret_and_changes_nothing():
    iam = FakeIam()
    (old,) = iam.add_user('svc-a')
    before = iam.state('svc-a')

    def denied(**kwargs):
        raise client_error('AccessDenied', 403, 'TagUser')
    iam.before['tag_user'] = denied
    handed_out = []
    iam.after['create_access_key'] = lambda **kw: handed_out.append(iam.users['svc-a']['keys'][-1]['SecretAccessKey'])
    result = fake_rotator(iam, old_key='inactive').run()
    assert result['failed'] and 'secret_access_key' not in result and 'secret_access_key' not in result['results'][0]
    assert handed_out and handed_out[0] not in json.dumps(result, default=str)
    assert 'AccessDenied' in result['msg'] and result['rolled_back_key_id'] in result['msg']
    assert 'the new key %s was deleted again' % result['rolled_back_key_id'] in result['msg']
    assert 'the old key %s is still Active' % old in result['msg']
    assert iam.state('svc-a') == before


def test_deactivation_denied_after_the_tag_was_written_removes_the_tag_and_the_new_key():
    iam = FakeIam()
    (old,) = iam.add_user('svc-a')
    before = iam.state('svc-a')

    def denied(**kwargs):
        raise client_error('AccessDenied', 403, 'UpdateAccessKey')
    iam.before['update_access_key'] = denied
    result = fake_rotator(iam, old_key='inactive').run()
    assert result['failed'] and 'deactivating access key %s' % old in result['msg']
    no_secret_in(result, iam)
    assert iam.state('svc-a') == before  # the old key Active, no tag, the new key gone


def test_old_key_step_failing_after_the_store_keeps_the_stored_key_and_returns_no_secret():
    iam, kv = FakeIam(), FakeKv()
    (old,) = iam.add_user('svc-a')

    def denied(**kwargs):
        raise client_error('AccessDenied', 403, 'TagUser')
    iam.before['tag_user'] = denied
    result = fake_rotator(iam, kv, old_key='inactive', store_path='aws/{user_name}').run()
    new = result['access_key_id']
    assert result['failed'] and new and result['stored'] == {'mount': 'secret', 'path': 'aws/svc-a', 'version': 1}
    assert ('the new key %s was kept: it is stored in secret/aws/svc-a (version 1)' % new) in result['msg']
    assert 'the old key %s is still Active' % old in result['msg']
    no_secret_in(result, iam)
    assert kv.versions[-1]['access_key_id'] == new
    assert iam.state('svc-a')[0] == sorted([(old, 'Active'), (new, 'Active')])


def test_batch_where_one_user_fails_returns_no_secret_of_the_others_and_rolls_them_back():
    iam = FakeIam()
    (good_old,) = iam.add_user('svc-a')
    iam.add_user('svc-b', keys=2)  # two Active keys: cannot make room
    before_a, before_b = iam.state('svc-a'), iam.state('svc-b')
    result = fake_rotator(iam, user_name=None, users=[{'user_name': 'svc-a'}, {'user_name': 'svc-b'}]).run()
    first, second = result['results']
    no_secret_in(result, iam)
    assert result['failed'] and result['msg'].startswith('1 of 2 users failed: svc-b: cannot make room')
    assert 'rolled back svc-a' in result['msg'] and result['msg'].endswith('; rotated 0 of 2 users')
    assert result['reason'] == 'mixed' and result['reasons'] == {'rolled_back': 1, 'forced': 1}
    assert first['failed'] and first['reason'] == 'rolled_back' and first['access_key_id'] is None
    assert ('the new key %s was deleted again' % first['rolled_back_key_id']) in first['msg']
    assert 'svc-b' in first['msg'] and 'a failed task returns no secret' in first['msg']
    assert iam.state('svc-a') == before_a and iam.state('svc-b') == before_b


def test_batch_where_one_user_fails_keeps_the_stored_keys_of_the_others():
    iam, kv = FakeIam(), FakeKv()
    (good_old,) = iam.add_user('svc-a')
    iam.add_user('svc-b', keys=2)
    result = fake_rotator(iam, kv, user_name=None, users=[{'user_name': 'svc-a', 'store_path': 'aws/svc-a'}, {'user_name': 'svc-b'}],
                          old_key='inactive').run()
    first, second = result['results']
    no_secret_in(result, iam)
    assert result['failed'] and not first['failed'] and first['stored']['version'] == 1 and second['failed']
    assert iam.state('svc-a')[0] == sorted([(good_old, 'Inactive'), (first['access_key_id'], 'Active')])


def test_a_successful_batch_still_returns_every_secret():
    iam = FakeIam()
    iam.add_user('svc-a')
    iam.add_user('svc-b')
    result = fake_rotator(iam, user_name=None, users=[{'user_name': 'svc-a'}, {'user_name': 'svc-b'}], old_key='deleted').run()
    assert not result.get('failed') and result['msg'] == 'rotated 2 of 2 users'
    for entry in result['results']:
        key = iam._key(entry['user_name'], entry['access_key_id'], 'x')
        assert entry['secret_access_key'] == key['SecretAccessKey'] and len(iam.users[entry['user_name']]['keys']) == 1


def test_old_keys_are_deleted_only_once_every_user_of_the_batch_has_a_verified_key():
    iam = FakeIam()
    (old_a,) = iam.add_user('svc-a')
    (old_b,) = iam.add_user('svc-b')
    before = iam.state('svc-a'), iam.state('svc-b')

    def sts_for(service, access_key, secret_key, endpoint_url=None, timeout=None, single_attempt=False):
        owner = [n for n, u in iam.users.items() if access_key in [k['AccessKeyId'] for k in u['keys']]][0]
        return KeySts(iam, access_key, secret_key) if owner == 'svc-a' else FakeSts([sts_refusal('InvalidClientTokenId')])
    rotator = fake_rotator(iam, user_name=None, users=[{'user_name': 'svc-a'}, {'user_name': 'svc-b'}], old_key='deleted',
                           verify_timeout='1s')
    rotator._aws.client_for_keys = sts_for
    result = rotator.run()
    assert result['failed'] and result['results'][1]['failed'] and 'did not verify' in result['results'][1]['msg']
    no_secret_in(result, iam)
    # svc-a's old key was not deleted before svc-b's new key failed to verify; both users are as before
    assert (iam.state('svc-a'), iam.state('svc-b')) == before
    assert not [c for c in iam.calls if c[0] == 'delete_access_key' and c[1]['AccessKeyId'] in (old_a, old_b)]


def test_deactivations_come_before_deletions_so_a_refused_deactivation_deletes_no_old_key():
    iam = FakeIam()
    (old_a,) = iam.add_user('svc-a')
    (old_b,) = iam.add_user('svc-b')
    before = iam.state('svc-a'), iam.state('svc-b')

    def denied(UserName, **kwargs):
        if UserName == 'svc-b':
            raise client_error('AccessDenied', 403, 'TagUser')
    iam.before['tag_user'] = denied
    result = fake_rotator(iam, user_name=None, users=[{'user_name': 'svc-a', 'old_key': 'deleted'},
                                                      {'user_name': 'svc-b', 'old_key': 'inactive'}]).run()
    no_secret_in(result, iam)
    assert result['results'][1]['failed'] and result['results'][0]['reason'] == 'rolled_back'
    assert (iam.state('svc-a'), iam.state('svc-b')) == before  # svc-a's old key was not deleted first


def test_a_deletion_refused_after_another_users_old_key_was_deleted_says_that_user_has_no_key():
    iam = FakeIam()
    (old_a,) = iam.add_user('svc-a')
    (old_b,) = iam.add_user('svc-b')

    def denied(UserName, AccessKeyId):
        if AccessKeyId == old_b:
            raise client_error('AccessDenied', 403, 'DeleteAccessKey')
    iam.before['delete_access_key'] = denied
    result = fake_rotator(iam, user_name=None, users=[{'user_name': 'svc-a'}, {'user_name': 'svc-b'}], old_key='deleted').run()
    first, second = result['results']
    no_secret_in(result, iam)
    assert second['failed'] and 'the old key %s is still Active' % old_b in second['msg']
    assert first['reason'] == 'rolled_back' and first['changed'] is True
    assert 'the old key %s had been deleted already, so svc-a has no access key now' % old_a in first['msg']
    assert iam.state('svc-a')[0] == [] and iam.state('svc-b')[0] == [(old_b, 'Active')]


def test_return_secret_false_without_a_store_is_refused():
    # the new secret would go nowhere: a key nobody has the secret of
    with pytest.raises(RotationError, match='return_secret=false needs store_path'):
        fake_rotator(FakeIam(), return_secret=False).validate()
    fake_rotator(FakeIam(), return_secret=False, state='purged', force=False).validate()  # other states return no secret


# -- item 3: CreateAccessKey is sent at most once; a key created by a request whose reply was lost is deleted --

def test_create_access_key_whose_reply_is_lost_is_sent_once_and_the_created_key_deleted():
    iam = FakeIam()
    (old,) = iam.add_user('svc-a')
    before = iam.state('svc-a')

    def reply_lost(**kwargs):
        raise read_timeout()
    iam.after['create_access_key'] = reply_lost
    result = fake_rotator(iam).run()
    creates = [c for c in iam.calls if c[0] == 'create_access_key']
    assert len(creates) == 1
    assert result['failed'] and 'creating an access key for svc-a failed: AWS endpoint https://iam.amazonaws.com/ timed out' in result['msg']
    orphan = 'AKIAFAKE%012d' % 2
    assert ('the request created key %s anyway; its secret was lost with the reply, so it was deleted again' % orphan) in result['msg']
    assert iam.state('svc-a') == before


def test_create_access_key_that_timed_out_before_creating_anything():
    iam = FakeIam()
    iam.add_user('svc-a')
    before = iam.state('svc-a')

    def timeout(**kwargs):
        raise read_timeout()
    iam.before['create_access_key'] = timeout
    result = fake_rotator(iam).run()
    assert result['failed'] and 'timed out' in result['msg'] and 'no key was created' in result['msg']
    assert len([c for c in iam.calls if c[0] == 'create_access_key']) == 1 and iam.state('svc-a') == before


def test_uncertain_create_that_cannot_be_checked_says_what_to_look_for():
    iam = FakeIam()
    (old,) = iam.add_user('svc-a')
    calls = []

    def timeout(**kwargs):
        raise read_timeout()

    def list_fails_after_create(**kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise client_error('ServiceUnavailable', 503, 'ListAccessKeys')
    iam.after['create_access_key'] = timeout
    iam.before['list_access_keys'] = list_fails_after_create
    result = fake_rotator(iam).run()
    assert result['failed'] and 'whether it created a key is unknown' in result['msg']
    assert 'svc-a has a key besides %s' % old in result['msg'] and 'delete it' in result['msg']


def test_a_refused_create_is_not_looked_after():
    iam = FakeIam()
    iam.add_user('svc-a')

    def denied(**kwargs):
        raise client_error('AccessDenied', 403, 'CreateAccessKey')
    iam.before['create_access_key'] = denied
    result = fake_rotator(iam).run()
    assert result['failed'] and result['msg'] == 'creating an access key for svc-a failed: AccessDenied: AccessDenied (fake)'


def test_a_reply_without_a_usable_key_deletes_the_key():
    iam = FakeIam()
    iam.add_user('svc-a')
    before = iam.state('svc-a')
    real = iam.create_access_key

    def broken(UserName):
        reply = real(UserName=UserName)
        reply['AccessKey']['CreateDate'] = 'not a date'
        return reply
    iam.create_access_key = broken
    result = fake_rotator(iam).run()
    assert result['failed'] and 'CreateDate' in result['msg'] and 'was deleted again' in result['msg']
    assert 'Traceback' not in result['msg'] and iam.state('svc-a') == before


# -- item 4: a store write whose reply was lost --

def test_store_write_whose_reply_is_lost_counts_as_stored_when_vault_holds_the_new_key():
    iam, kv = FakeIam(), FakeKv()
    (old,) = iam.add_user('svc-a')
    kv.fail_write = 'after'
    rotator = fake_rotator(iam, kv, store_path='aws/{user_name}', old_key='deleted')
    result = rotator.run()
    assert not result.get('failed'), result['msg'] and 'warnings' not in result
    new = result['access_key_id']
    assert result['stored'] == {'mount': 'secret', 'path': 'aws/svc-a', 'version': 1}
    assert kv.versions[-1]['access_key_id'] == new and iam.state('svc-a')[0] == [(new, 'Active')]
    assert any('re-reading it shows version 1 with the new key %s' % new in w for w in rotator.warned)


def test_store_write_that_did_not_arrive_deletes_the_new_key():
    iam, kv = FakeIam(), FakeKv()
    iam.add_user('svc-a')
    before = iam.state('svc-a')
    kv.fail_write = 'before'
    result = fake_rotator(iam, kv, store_path='aws/{user_name}').run()
    assert result['failed'] and 'did not answer' in result['msg'] and 'was deleted again' in result['msg']
    assert iam.state('svc-a') == before and kv.versions == []


def test_store_write_lost_and_someone_else_wrote_after_it_deletes_the_new_key():
    iam, kv = FakeIam(), FakeKv()
    iam.add_user('svc-a')
    before = iam.state('svc-a')
    kv.fail_write, kv.other_writer = 'after', {'access_key_id': 'AKIAOTHERWRITER00000'}
    result = fake_rotator(iam, kv, store_path='aws/{user_name}').run()
    assert result['failed'] and 'was deleted again' in result['msg'] and iam.state('svc-a') == before


def test_store_write_lost_and_vault_unreadable_deletes_the_new_key_and_says_so():
    iam, kv = FakeIam(), FakeKv()
    iam.add_user('svc-a')
    before = iam.state('svc-a')
    kv.fail_write, kv.fail_read = 'after', True
    result = fake_rotator(iam, kv, store_path='aws/{user_name}').run()
    new = result['rolled_back_key_id']
    assert result['failed'] and 'whether the write arrived is unknown' in result['msg']
    assert 'if secret/aws/svc-a holds %s, that key no longer exists' % new in result['msg']
    assert iam.state('svc-a') == before
    no_secret_in(result, iam)


# -- item 5: times out of range, hand-edited tags, unexpected errors after CreateAccessKey --

@pytest.mark.parametrize('value', ['0001-01-01T00:00:00+01:00', '9999-12-31T23:59:59-01:00', '9999-12-31T23:59:59Z',
                                   '0001-01-01T00:00:00Z', '1969-12-31T23:59:59Z'])
def test_now_out_of_range_is_a_clear_error(value):
    with pytest.raises(RotationError) as err:
        _iam.IamKeyRotator(params(now=value, state='purged'), check_mode=True, aws=object()).validate()
    assert str(err.value).startswith('now: ') and 'out of range' in str(err.value)


@pytest.mark.parametrize('value, words', [
    ('0001-01-01T00:00:00+01:00', 'out of range'),
    ('9999-12-31T23:59:59-01:00', 'out of range'),
    ('1969-01-01T00:00:00Z', 'out of range'),
    ('36500d', 'out of range'),
    ('2999-01-01T00:00:00Z', 'is after now'),
])
def test_cutover_out_of_range_or_in_the_future_is_a_clear_error(value, words):
    with pytest.raises(RotationError) as err:
        _iam.IamKeyRotator(params(state='deactivated', cutover=value, now='2000-01-01T00:00:00Z'), check_mode=True,
                           aws=object()).validate()
    assert str(err.value).startswith('cutover: ') and words in str(err.value)


def test_cutover_of_a_batch_item_is_named_by_its_place():
    with pytest.raises(RotationError, match=r'^users\[1\] \(b\): cutover: .*out of range'):
        _iam.IamKeyRotator(params(state='deactivated', user_name=None, cutover='1h',
                                  users=[{'user_name': 'a'}, {'user_name': 'b', 'cutover': '0001-01-01T00:00:00+01:00'}]),
                           aws=object()).validate()


@pytest.mark.parametrize('value', ['0001-01-01T00:00:00+01:00', '9999-12-31T23:59:59Z', '9999-12-31T23:59:59-01:00', 'soon'])
@pytest.mark.parametrize('state', ['purged', 'rotated', 'deactivated'])
def test_hand_edited_deactivation_tags_are_ignored_with_a_warning(value, state):
    iam = FakeIam()
    active, inactive = iam.add_user('svc-a', keys=2)
    iam.users['svc-a']['keys'][1]['Status'] = 'Inactive'
    iam.users['svc-a']['tags'][_iam.tag_key(inactive)] = value
    options = dict(state=state, force=state != 'purged')
    if state == 'deactivated':
        options['key_ids'] = [inactive]
    rotator = fake_rotator(iam, **options)
    result = rotator.run()
    assert any('tag' in w and inactive in w and 'it is ignored' in w for w in rotator.warned), result
    assert 'warnings' not in result
    if state == 'rotated':  # the Inactive key has no readable record: it may not be deleted to make room
        assert result['failed'] and '%s (Inactive): its deactivation time is not recorded' % inactive in result['msg']
    else:  # purged / deactivated record the time now
        assert not result.get('failed') and result['recorded_key_ids'] == [inactive], result['msg']


def test_unreadable_times_from_iam_are_a_clear_error():
    iam = FakeIam()
    iam.add_user('svc-a')
    iam.users['svc-a']['keys'][0]['CreateDate'] = 'garbage'
    result = fake_rotator(iam).run()
    assert result['failed'] and "IAM returned an unreadable CreateDate 'garbage' for access key AKIAFAKE000000000001" in result['msg']


def test_an_unexpected_error_after_create_access_key_rolls_the_new_key_back_and_shows():
    iam = FakeIam()
    iam.add_user('svc-a')
    before = iam.state('svc-a')
    rotator = fake_rotator(iam)
    rotator._aws.sts = FakeSts([ZeroDivisionError()])
    with pytest.raises(ZeroDivisionError):
        rotator.run()
    assert iam.state('svc-a') == before


def test_an_unexpected_error_in_a_batch_rolls_back_the_users_done_before():
    iam = FakeIam()
    iam.add_user('svc-a')
    iam.add_user('svc-b')
    before = iam.state('svc-a'), iam.state('svc-b')

    def sts_for(service, access_key, secret_key, endpoint_url=None, timeout=None, single_attempt=False):
        if access_key in [k['AccessKeyId'] for k in iam.users['svc-b']['keys']]:
            return FakeSts([KeyError('bug')])
        return KeySts(iam, access_key, secret_key)
    rotator = fake_rotator(iam, user_name=None, users=[{'user_name': 'svc-a'}, {'user_name': 'svc-b'}], old_key='inactive')
    rotator._aws.client_for_keys = sts_for
    with pytest.raises(KeyError):
        rotator.run()
    assert (iam.state('svc-a'), iam.state('svc-b')) == before


# -- item 11: cutover required for state=deactivated; now only in check mode; a unit-level clock --

def test_deactivated_needs_a_cutover_unless_forced():
    with pytest.raises(RotationError) as err:
        _iam.IamKeyRotator(params(state='deactivated'), aws=object()).validate()
    assert str(err.value).startswith('user svc-a: state=deactivated needs cutover')
    assert 'or force=true' in str(err.value)
    _iam.IamKeyRotator(params(state='deactivated', force=True), aws=object()).validate()
    _iam.IamKeyRotator(params(state='deactivated', cutover='15m'), aws=object()).validate()
    with pytest.raises(RotationError, match=r'^users\[1\] \(b\): state=deactivated needs cutover'):
        _iam.IamKeyRotator(params(state='deactivated', user_name=None, users=[{'user_name': 'a', 'cutover': '1h'}, {'user_name': 'b'}]),
                           aws=object()).validate()


def test_now_is_only_for_check_mode():
    with pytest.raises(RotationError) as err:
        _iam.IamKeyRotator(params(now='2030-01-01T00:00:00Z'), aws=object()).validate()
    assert str(err.value).startswith('now: only allowed in check mode')
    rotator = _iam.IamKeyRotator(params(now='2030-01-01T00:00:00Z'), check_mode=True, aws=object())
    rotator.validate()
    assert rotator.now == datetime.datetime(2030, 1, 1, tzinfo=UTC)


def test_a_unit_level_clock_drives_time_in_real_runs():
    iam = FakeIam()
    (old,) = iam.add_user('svc-a')
    later = datetime.datetime(2020, 1, 1, tzinfo=UTC) + datetime.timedelta(days=100)
    rotator = _iam.IamKeyRotator(params(old_key='inactive'), aws=FakeAwsIam(iam), sleep=lambda s: None, clock=lambda: later)
    result = rotator.run()
    assert result['reason'] == 'age' and not result.get('failed'), result['msg']
    assert iam.users['svc-a']['tags'] == {_iam.tag_key(old): '2020-04-10T00:00:00Z'}


def _iam_tasks(path):
    import yaml  # pylint: disable=import-outside-toplevel
    import os  # pylint: disable=import-outside-toplevel
    root = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..')
    with open(os.path.join(root, path)) as handle:
        plays = yaml.safe_load(handle)
    tasks = []
    for entry in plays:
        for task in entry.get('tasks', [entry]) if isinstance(entry, dict) else []:
            args = task.get('secops.rotation.iam_key_rotate')
            if args is not None:
                tasks.append((task, args))
    return tasks


@pytest.mark.parametrize('path', ['examples/demo/rotate_all.yml', 'roles/iam_keys/tasks/blue_green_decommission.yml',
                                  'roles/iam_keys/tasks/blue_green_discard.yml', 'roles/iam_keys/tasks/blue_green_issue.yml'])
def test_shipped_tasks_deactivate_only_with_a_cutover_or_force_and_use_now_only_in_check_mode(path):
    tasks = _iam_tasks(path)
    assert tasks
    for task, args in tasks:
        if args.get('state') == 'deactivated':
            assert args.get('cutover') or args.get('force') is True, task['name']
        if 'now' in args:
            assert task.get('check_mode') is True, task['name']
